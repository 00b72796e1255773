package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// runBinary runs the binary with args and returns its stdout, stderr and
// exit status.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(serviceBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%q: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

var warmSummary = regexp.MustCompile(`^warm: 9 files, 10\.2 MiB: 9 hashed, 0 already valid, 0 failed; hashed 10\.2 MiB in \S+ \(\S+ \S+/s\) with 3 workers\n$`)

func TestWarmSummaryWithoutTerminal(t *testing.T) {
	root, cache, _ := mirror(t)
	out, errOut, code := runBinary(t, "warm", "-j", "3", "-root", root, "-cache", cache, "yum/**/*.rpm", "yum/iso/*.iso")
	if code != 0 || !warmSummary.MatchString(out) {
		t.Fatalf("warm: exit %d, stdout %q, stderr %q; want one summary line", code, out, errOut)
	}
	// Every entry is there: a second run hashes nothing.
	out, _, code = runBinary(t, "warm", "-root", root, "-cache", cache, "yum/**")
	if code != 0 || !strings.HasPrefix(out, "warm: 9 files, 10.2 MiB: 0 hashed, 9 already valid, 0 failed; nothing to hash") {
		t.Errorf("second warm: exit %d, %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"warm", "-cache", cache, "yum/**"}, 2, "root: warm needs the document root"},
		{[]string{"warm", "-root", root, "-cache", cache}, 2, "at least one PATTERN"},
		{[]string{"warm", "-root", root, "-cache", cache, "nope/**"}, 1, "the patterns match no file"},
		{[]string{"warm", "-root", root, "-piece-length", "1000", "x"}, 2, "piece-length"},
	} {
		_, errOut, code := runBinary(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestWarmAsRootWarnsOfForeignCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the warning is about root writing another user's cache")
	}
	root, cache, _ := mirror(t)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cache, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBinary(t, "warm", "-root", root, "-cache", cache, "yum/iso/*")
	if code != 0 || !strings.Contains(errOut, "run warm as that user") || !strings.Contains(errOut, "owner_uid=65534") {
		t.Errorf("warm as root in a cache of uid 65534: exit %d, stderr %q; want a warning", code, errOut)
	}
	os.Chown(cache, 0, 0)
	if _, errOut, _ := runBinary(t, "warm", "-root", root, "-cache", cache, "yum/iso/*"); strings.Contains(errOut, "run warm as that user") {
		t.Errorf("warning for root's own cache: %q", errOut)
	}
}

func TestWarmProgressOnTerminal(t *testing.T) {
	root, cache, _ := mirror(t)
	master, slave := openPTY(t, 100)
	cmd := exec.Command(serviceBinary(t), "warm", "-j", "3", "-root", root, "-cache", cache, "yum/**/*.rpm", "yum/iso/*.iso")
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = slave, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds the only slave now: its exit ends the reading
	r := readPTY(master)
	err := cmd.Wait()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal output did not end:\n%q", r.String())
	}
	if err != nil {
		t.Fatalf("warm on a terminal: %v\n%s", err, errOut.String())
	}
	out := r.String()
	// The terminal turns each \n into \r\n.
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	if len(lines) != 2 {
		t.Fatalf("want the progress line then the summary, got %d lines: %q", len(lines), out)
	}
	draws := strings.Split(strings.TrimPrefix(lines[0], "\r"), "\r")
	last := draws[len(draws)-1]
	final := regexp.MustCompile(`^\[#+\]  100%  9/9 files  10\.2 MiB/10\.2 MiB  \S+ \S+/s  0:00 left\x1b\[K$`)
	if !final.MatchString(last) {
		t.Errorf("last draw of the progress line %q, want a full bar, 9/9 files, 10.2 MiB, rate and time left", last)
	}
	for _, d := range draws {
		if !strings.HasSuffix(d, "\x1b[K") || len(strings.TrimSuffix(d, "\x1b[K")) > 99 {
			t.Errorf("draw %q: want at most 99 columns, erased to the end of the line", d)
		}
	}
	if !warmSummary.MatchString(lines[1] + "\n") {
		t.Errorf("summary after the progress line: %q", lines[1])
	}
}

func TestWarmInterruptedKeepsEntries(t *testing.T) {
	root, cache, _ := mirror(t)
	// A first run writes the packages' entries.
	if out, errOut, code := runBinary(t, "warm", "-root", root, "-cache", cache, "yum/el9/**"); code != 0 {
		t.Fatalf("warm: %d %s %s", code, out, errOut)
	}
	before := entries(t, cache)
	// A sparse file far too large to hash before the signal comes.
	huge := filepath.Join(root, "yum/iso/huge.iso")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 64<<30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	master, slave := openPTY(t, 80)
	cmd := exec.Command(serviceBinary(t), "warm", "-root", root, "-cache", cache, "yum/**")
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = slave, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	r := readPTY(master)
	t.Cleanup(func() { cmd.Process.Kill() })
	// The first draw comes after the signal handler is in place.
	for i := 0; i < 600 && !strings.Contains(r.String(), "\r"); i++ {
		select {
		case <-r.more:
		case <-time.After(100 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("warm did not stop on SIGINT:\n%q", r.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit after SIGINT: %v, want status 130\n%s", err, errOut.String())
	}
	<-r.done
	if !strings.Contains(r.String(), "warm: interrupted after ") || !strings.Contains(r.String(), "the entries written are kept") {
		t.Errorf("no interrupted summary in %q", r.String())
	}
	after := entries(t, cache)
	for name := range before {
		if !after[name] {
			t.Errorf("entry %s lost by the interruption", name)
		}
	}
	for name := range after {
		// The entry's lock file stays, by design (see pkg/filelock); an
		// entry or a temporary file must not.
		if strings.HasSuffix(name, ".lock") {
			continue
		}
		if strings.Contains(name, "huge.iso") || strings.Contains(name, ".tmp-") {
			t.Errorf("%s left by the interrupted run", name)
		}
	}
}

// entries lists the files under the cache folder.
func entries(t *testing.T, cache string) map[string]bool {
	t.Helper()
	m := make(map[string]bool)
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			m[p] = true
		}
		return err
	})
	return m
}

func TestGCCommand(t *testing.T) {
	root, cache, _ := mirror(t)
	if _, errOut, code := runBinary(t, "warm", "-root", root, "-cache", cache, "yum/**"); code != 0 {
		t.Fatalf("warm: %s", errOut)
	}
	pieces := filepath.Join(cache, "pieces", "yum", "el9", "x86_64", "Packages")
	old := time.Now().Add(-40 * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(pieces, "several-2.5-1.x86_64.rpm", "1048576"), old, time.Time{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(root, "yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm"))
	conf := filepath.Join(t.TempDir(), "service.conf")
	os.WriteFile(conf, []byte("root = "+root+"\ncache = "+cache+"\n"), 0o644)

	// A dry run lists, removes nothing.
	out, errOut, code := runBinary(t, "gc", "-config", conf, "-dry-run")
	wantLines := []string{
		"would remove pieces/yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm/1048576 (piece entry, 144 B): unused for 40 days",
		"would remove pieces/yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm (empty folder)",
		"would remove pieces/yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm/1048576 (piece entry, 104 B): source file gone",
		"would remove pieces/yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm (empty folder)",
		"gc: dry run: would remove 2 piece entries and 2 empty folders, which would free 248 B (248 bytes); kept 7 entries (808 B)",
	}
	if code != 0 || out != strings.Join(wantLines, "\n")+"\n" {
		t.Errorf("gc -dry-run: exit %d\n%s\nwant\n%s\nstderr %s", code, out, strings.Join(wantLines, "\n"), errOut)
	}
	if _, err := os.Stat(filepath.Join(pieces, "several-2.5-1.x86_64.rpm", "1048576")); err != nil {
		t.Errorf("the dry run removed an entry: %v", err)
	}
	// The real run: a summary; with -v each removal.
	out, _, code = runBinary(t, "gc", "-config", conf)
	if want := "gc: removed 2 piece entries and 2 empty folders, freeing 248 B (248 bytes); kept 7 entries (808 B)\n"; code != 0 || out != want {
		t.Errorf("gc: exit %d, %q; want %q", code, out, want)
	}
	out, _, code = runBinary(t, "gc", "-config", conf, "-v", "-max-age", "0")
	if code != 0 || strings.Count(out, " (piece entry, ") != 7 || !strings.Contains(out, "\ngc: removed 7 piece entries and ") {
		t.Errorf("gc -v -max-age 0: exit %d\n%s", code, out)
	}
	if _, errOut, code := runBinary(t, "gc", "-cache", cache, "-max-age", "-1h"); code != 2 || !strings.Contains(errOut, "max-age") {
		t.Errorf("negative max-age: exit %d, %q", code, errOut)
	}
	// Without a root, it says what it cannot check.
	if _, errOut, code := runBinary(t, "gc", "-cache", cache); code != 0 || !strings.Contains(errOut, "no root setting") {
		t.Errorf("gc without root: exit %d, %q", code, errOut)
	}
}

func TestInspectCommand(t *testing.T) {
	root, cache, trackers := mirror(t)
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers, cfg.Format = root, cache, trackers, torrent.Pkgtorrent
	var shift atomic.Int64 // the service's clock is ahead of the real one by this
	clock := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	srv := httptest.NewServer(synchronous(service.New(cfg, service.Options{Log: slog.New(slog.DiscardHandler), Now: clock})))
	defer srv.Close()
	url := srv.URL + "/yum/torrent_service/single/yum/el9/x86_64/Packages/*.rpm"
	res, body := get(t, "GET", url, nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	file := filepath.Join(t.TempDir(), "packages.torrent")
	os.WriteFile(file, body, 0o644)
	hash := infoHash(t, body)

	for _, src := range []string{file, url} {
		out, errOut, code := runBinary(t, "inspect", src)
		for _, want := range []string{
			"name:          yum\n",
			"info hash:     " + hash + "\n",
			"piece length:  1048576 (1.0 MiB)\n",
			"size:          11.0 MiB (11539336 bytes) in 8 files and 4 padding entries\n",
			"  torrent_service/nullfile/1048575_0  (padding, nullfile)\n",
			"trackers:\n  tier 1: udp://127.0.0.1:1/announce\n",
			"web seeds:\n  " + srv.URL + "/\n",
		} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("inspect %s: exit %d, output lacks %q:\n%s%s", src, code, want, out, errOut)
			}
		}
	}
	out, _, code := runBinary(t, "inspect", "-verify", root, file)
	if code != 0 || !strings.HasSuffix(out, "verify: all 12 pieces match\n") {
		t.Errorf("inspect -verify: exit %d\n%s", code, out)
	}
	f, err := os.OpenFile(filepath.Join(root, "yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), 2<<20)
	f.Close()
	out, _, code = runBinary(t, "inspect", "-verify", root, file)
	if want := "verify: piece 2 does not match (el9/x86_64/Packages/exact-3-1.x86_64.rpm)\nverify: 1 of 12 pieces do not match; files with bad pieces: el9/x86_64/Packages/exact-3-1.x86_64.rpm (1)\n"; code != 1 || !strings.HasSuffix(out, want) {
		t.Errorf("inspect -verify of a changed file: exit %d\n%s\nwant the end\n%s", code, out, want)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, 2, "needs one FILE.torrent or URL"},
		{[]string{"inspect", filepath.Join(root, "yum/iso/boot.iso")}, 1, "not a well-formed torrent"},
		{[]string{"inspect", srv.URL + "/yum/torrent_service/single/nope"}, 1, "404"},
	} {
		_, errOut, code := runBinary(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := runBinary(t, "version")
	if code != 0 || !strings.HasPrefix(out, "pkgtorrent-service ") || !strings.HasSuffix(out, " "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"Usage: pkgtorrent-service [-config FILE]", "Subcommands", "warm PATTERN...", "Settings (flags override -config):", "  -root value"}},
		{[]string{"warm", "-h"}, []string{"Usage: pkgtorrent-service warm [-j N] [settings] PATTERN...", "Flags:\n  -j int", "Settings (as for the service", "  -piece-length value"}},
		{[]string{"gc", "-help"}, []string{"Usage: pkgtorrent-service gc", "  -max-age duration", "(default 720h0m0s)", "  -dry-run", "  -cache value"}},
		{[]string{"inspect", "-h"}, []string{"Usage: pkgtorrent-service inspect [-verify ROOT] FILE.torrent|URL", "Flags:\n  -verify string"}},
		{[]string{"version", "-h"}, []string{"Usage: pkgtorrent-service version"}},
	} {
		out, errOut, code := runBinary(t, tc.args...)
		for _, want := range tc.want {
			if code != 0 || out != "" || !strings.Contains(errOut, want) {
				t.Errorf("%q: exit %d, stdout %q; stderr lacks %q:\n%s", tc.args, code, out, want, errOut)
			}
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"version", "extra"}, {"gc", "extra"}, {"inspect", "-nope", "x"}} {
		if _, errOut, code := runBinary(t, args...); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", args, code, errOut)
		}
	}
}

// TestUsedMarksSurviveGC runs the service and gc on one cache: what the
// service serves is kept, however old its entries were.
func TestUsedMarksSurviveGC(t *testing.T) {
	root, cache, trackers := mirror(t)
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers = root, cache, trackers
	var shift atomic.Int64 // the service's clock is ahead of the real one by this
	clock := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	srv := httptest.NewServer(synchronous(service.New(cfg, service.Options{Log: slog.New(slog.DiscardHandler), Now: clock})))
	defer srv.Close()
	url := srv.URL + "/yum/torrent_service/single/yum/iso/boot.iso"
	if res, _ := get(t, "GET", url, nil); res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	var all []string
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") {
			all = append(all, p)
			os.Chtimes(p, old, time.Time{})
		}
		return err
	})
	if len(all) != 2 {
		t.Fatalf("cache files %q, want an info entry and a piece entry", all)
	}
	// Served again (two days later for the process, which remembers when
	// it wrote the entries): marked used, so gc keeps both.
	shift.Store(int64(48 * time.Hour))
	if res, _ := get(t, "GET", url, nil); res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	for _, p := range all {
		fi, _ := os.Stat(p)
		if clock().Sub(cachefile.LastUsed(fi)) > time.Hour {
			t.Errorf("%s not marked used", p)
		}
	}
	out, _, code := runBinary(t, "gc", "-root", root, "-cache", cache)
	if code != 0 || out != "gc: nothing to remove; kept 2 entries ("+bytesOf(t, all)+")\n" {
		t.Errorf("gc after use: exit %d, %q", code, out)
	}
}

func bytesOf(t *testing.T, files []string) string {
	var n int64
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	if n >= 1024 {
		t.Fatalf("%d bytes: the test formats bytes under 1 KiB only", n)
	}
	return strconv.FormatInt(n, 10) + " B"
}

// synchronous answers with svc once the request's piece cache entries are
// written (the service writes them after answering), for tests that look
// at the cache after a request.
func synchronous(svc *service.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.ServeHTTP(w, r)
		svc.Wait()
	})
}
