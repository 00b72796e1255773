package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/failpoint"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

const base = "http://mirror.test/yum/torrent_service/"

// hostileFixture is a fixture whose document root also holds what
// plantHostile puts there.
func hostileFixture(t *testing.T, edit func(*config.Config)) (f *fixture, secret string) {
	t.Helper()
	f = newFixture(t, edit)
	return f, plantHostile(t, f.root)
}

// plantHostile puts symlinks out of the document root root and back into
// it, a fifo, a device and a socket under root/yum, and a secret file
// next to root, whose name it returns.
func plantHostile(tb testing.TB, root string) (secret string) {
	tb.Helper()
	outside := filepath.Join(filepath.Dir(root), "secret")
	os.MkdirAll(outside, 0o755)
	secret = filepath.Join(outside, "passwd")
	os.WriteFile(secret, []byte("root:SECRET:0:0\n"), 0o644)
	y := filepath.Join(root, "yum")
	for name, target := range map[string]string{
		"out-file":   "../../secret/passwd",
		"out-dir":    "../../secret",
		"out-abs":    secret,
		"in-abs":     filepath.Join(root, "yum/iso/boot.iso"),
		"in-file":    "iso/boot.iso",
		"in-dir":     "iso",
		"in-updown":  "../yum/iso/boot.iso",
		"out-and-in": "../../www/yum/iso/boot.iso",
		"loop":       "loop",
	} {
		if err := os.Symlink(target, filepath.Join(y, name)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(y, "fifo"), 0o644); err != nil {
		tb.Fatalf("mkfifo: %v", err)
	}
	if err := syscall.Mknod(filepath.Join(y, "zero"), syscall.S_IFCHR|0o644, 1<<8|5); err != nil {
		tb.Fatalf("mknod /dev/zero's twin (the tests need root): %v", err)
	}
	l, err := net.Listen("unix", filepath.Join(y, "sock"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return secret
}

// within runs fn and fails the test when it does not return within a
// generous bound: a handler that blocks on a fifo would hang the test.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return within a minute", what)
	}
}

// checkInside checks that every file a torrent names resolves to a file
// under root and is not the secret, then recomputes its pieces.
func checkInside(t *testing.T, root, secret string, body []byte) {
	t.Helper()
	m := decodeTorrent(t, body)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	if files, ok := m.info["files"].([]any); ok {
		for _, fe := range files {
			var parts []string
			for _, p := range fe.(map[string]any)["path"].([]any) {
				parts = append(parts, p.(string))
			}
			if parts[0] == "torrent_service" {
				continue
			}
			named = append(named, filepath.Join(append([]string{root, m.info["name"].(string)}, parts...)...))
		}
	} else {
		u, err := url.Parse(m.raw["url-list"].([]any)[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		named = append(named, filepath.Join(root, filepath.FromSlash(u.Path), m.info["name"].(string)))
	}
	for _, n := range named {
		real, err := filepath.EvalSymlinks(n)
		if err != nil || !strings.HasPrefix(real, realRoot+"/") || real == secret {
			t.Errorf("torrent names %s, which resolves to %s (%v): outside the root %s", n, real, err, realRoot)
		}
	}
	verifyPieces(t, root, "torrent_service", m)
}

// TestConfinement sends every path attack tried through the handler.
func TestConfinement(t *testing.T) {
	f, secret := hostileFixture(t, nil)
	long := "yum/" + strings.Repeat("d/", 2100) + "x"
	for _, tc := range []struct {
		name   string
		target string   // a raw request target after the mount, percent-encoded as on the wire
		post   []string // or the p fields of a POST
		want   int
	}{
		{"dot-dot", "single/yum/../../secret/passwd", nil, 403},
		{"encoded dot-dot", "single/yum/%2e%2e/%2e%2e/secret/passwd", nil, 403},
		{"encoded dot-dot, upper case", "single/yum/%2E%2E/%2E%2E/secret/passwd", nil, 403},
		{"half-encoded dot-dot", "single/yum/.%2e/.%2e/secret/passwd", nil, 403},
		{"double-encoded dot-dot", "single/yum/%252e%252e/%252e%252e/secret/passwd", nil, 403},
		{"triple-encoded dot-dot", "single/yum/%25252e%25252e/secret/passwd", nil, 403},
		{"nested encoding", "single/yum/%25%32%65%25%32%65/secret/passwd", nil, 403},
		{"encoded slash", "single/yum%2f..%2f..%2fsecret%2fpasswd", nil, 403},
		{"double-encoded slash", "single/yum/..%252f..%252fsecret%252fpasswd", nil, 403},
		{"absolute", "single//etc/passwd", nil, 403},
		{"absolute, encoded slash", "single/%2fetc%2fpasswd", nil, 403},
		{"absolute, three slashes", "single///etc/passwd", nil, 403},
		{"backslash", `single/yum\..\..\secret\passwd`, nil, 403},
		{"encoded backslash", "single/yum%5c..%5c..%5csecret%5cpasswd", nil, 403},
		{"double-encoded backslash", "single/yum/..%255c..%255csecret", nil, 403},
		{"symlink to a file outside", "single/yum/out-file", nil, 403},
		{"absolute symlink outside", "single/yum/out-abs", nil, 403},
		{"symlink to a folder outside", "single/yum/out-dir/passwd", nil, 403},
		{"glob through a folder symlink outside", "single/yum/out-dir/*", nil, 403},
		{"absolute symlink back inside", "single/yum/in-abs", nil, 200},
		{"symlink out and back in", "single/yum/out-and-in", nil, 200},
		{"symlink loop", "single/yum/loop", nil, 404},
		{"symlink to a file inside", "single/yum/in-file", nil, 200},
		{"relative symlink up and in", "single/yum/in-updown", nil, 200},
		{"symlink to a folder inside", "single/yum/in-dir/boot.iso", nil, 200},
		{"glob over symlinks in and out", "single/yum/*", nil, 200},
		{"glob under a folder symlink inside", "single/yum/in-dir/*.iso", nil, 200},
		{"fifo", "single/yum/fifo", nil, 404},
		{"device", "single/yum/zero", nil, 404},
		{"socket", "single/yum/sock", nil, 404},
		{"folder", "single/yum/iso", nil, 404},
		{"glob over special files", "single/yum/[fsz]*", nil, 404},
		{"NUL", "single/yum/iso/boot.iso%00.txt", nil, 400},
		{"double-encoded NUL", "single/yum/iso/boot.iso%2500", nil, 400},
		{"path over 4096 bytes", "single/" + long, nil, 400},
		{"segment over 255 bytes", "single/yum/" + strings.Repeat("a", 256), nil, 400},
		// Overlong UTF-8 dots are not dots on Linux, and not UTF-8: a name
		// BitTorrent clients cannot use (issue 11), refused before any lookup.
		{"overlong UTF-8 dots (not dots on Linux)", "single/yum/%c0%ae%c0%ae/secret/passwd", nil, 400},
		{"POST dot-dot", "", []string{"/yum/../../secret/passwd"}, 403},
		{"POST absolute", "", []string{"//etc/passwd"}, 403},
		{"POST encoded dot-dot", "", []string{"/yum/%2e%2e/%2e%2e/secret/passwd"}, 403},
		{"POST backslash", "", []string{`/yum\..\..\secret\passwd`}, 403},
		{"POST symlink out", "", []string{"/yum/out-file"}, 403},
		{"POST folder symlink out", "", []string{"/yum/out-dir/passwd"}, 403},
		{"POST fifo", "", []string{"/yum/fifo"}, 404},
		{"POST device", "", []string{"/yum/zero"}, 404},
		{"POST NUL", "", []string{"/yum/iso/boot\x00.iso"}, 400},
		{"POST path over 4096 bytes", "", []string{"/" + long}, 400},
		{"POST symlinks inside", "", []string{"/yum/in-dir/boot.iso", "/yum/in-file"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w *httptest.ResponseRecorder
			within(t, tc.name, func() {
				if tc.post != nil {
					w = f.post(tc.post...)
					return
				}
				r := httptest.NewRequest(http.MethodGet, "http://mirror.test/", nil)
				u, err := url.Parse(base + tc.target)
				if err != nil {
					t.Errorf("target %q: %v", tc.target, err)
					return
				}
				r.URL = u
				w = httptest.NewRecorder()
				f.svc.ServeHTTP(w, r)
			})
			if w == nil {
				return
			}
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if w.Code == 200 {
				checkInside(t, f.root, secret, w.Body.Bytes())
			} else if strings.Contains(w.Body.String(), "SECRET") {
				t.Errorf("error body shows the secret: %s", w.Body)
			}
		})
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("an attack was logged as an internal error:\n%s", f.logs)
	}
}

// TestBounds checks the limits on the work of one request.
func TestBounds(t *testing.T) {
	t.Run("glob over max-files", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) { c.MaxFiles = 5 })
		w := f.do("GET", base+"single/yum/el9/x86_64/Packages/*.rpm", nil)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "more than 5 files") {
			t.Errorf("8 matches with max-files 5: %d %q, want 400 saying more than 5 files", w.Code, w.Body)
		}
		w = f.do("GET", base+"single/yum/el9/x86_64/Packages/[ep]*.rpm", nil)
		if w.Code != 200 {
			t.Errorf("5 matches with max-files 5: %d %q, want 200", w.Code, w.Body)
		}
	})
	t.Run("glob over the default 10000 files", func(t *testing.T) {
		f := newFixture(t, nil)
		dir := filepath.Join(f.root, "yum/many")
		os.MkdirAll(dir, 0o755)
		for i := range 10001 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.rpm", i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		w := f.do("GET", base+"single/yum/many/*.rpm", nil)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "more than 10000 files") {
			t.Errorf("10001 matches: %d %q, want 400 saying more than 10000 files", w.Code, w.Body)
		}
		if n := f.svc.Stats.FilesHashed.Load(); n != 0 {
			t.Errorf("%d files hashed for a refused glob", n)
		}
	})
	t.Run("walk over max-walk", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) { c.MaxFiles = 10; c.MaxWalk = 12 })
		w := f.do("GET", base+"single/*/*/*/*/*.rpm", nil)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "visits more than 12 entries") {
			t.Errorf("long walk: %d %q, want 400 saying it visits more than 12 entries", w.Code, w.Body)
		}
	})
	t.Run("p fields over max-files", func(t *testing.T) {
		f := newFixture(t, func(c *config.Config) { c.MaxFiles = 3 })
		w := f.post(somePackages...)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "more than 3 p fields") {
			t.Errorf("4 p fields with max-files 3: %d %q", w.Code, w.Body)
		}
	})
	t.Run("p fields over the default 10000", func(t *testing.T) {
		f := newFixture(t, nil)
		paths := make([]string, 10001)
		for i := range paths {
			paths[i] = fmt.Sprintf("/yum/x/%05d", i)
		}
		w := f.post(paths...)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "more than 10000 p fields") {
			t.Errorf("10001 p fields: %d %q", w.Code, w.Body)
		}
	})
	t.Run("more p fields than net/url allows, within max-files", func(t *testing.T) {
		// net/http's ParseForm refuses more than 10000 fields whatever
		// max-files says; the service's own parser follows max-files.
		f := newFixture(t, func(c *config.Config) { c.MaxFiles = 15000; c.MaxWalk = 15000 })
		paths := make([]string, 15000)
		for i := range paths {
			paths[i] = fmt.Sprintf("/yum/x/%05d", i)
		}
		w := f.post(paths...)
		if w.Code != 404 || !strings.Contains(w.Body.String(), "yum/x/00000") {
			t.Errorf("15000 p fields of missing files: %d %q, want 404 naming the first", w.Code, w.Body)
		}
	})
	t.Run("form syntax", func(t *testing.T) {
		f := newFixture(t, nil)
		for _, tc := range []struct {
			name, ctype, body string
			want              int
		}{
			{"semicolon separator", "application/x-www-form-urlencoded", "p=/yum/iso/boot.iso;p=/yum/x", 400},
			{"bad escape", "application/x-www-form-urlencoded", "p=%zz", 400},
			{"bad escape in a name", "application/x-www-form-urlencoded", "%zz=1&p=/yum/iso/boot.iso", 400},
			{"other content type", "text/plain", "p=/yum/iso/boot.iso", 400},
			{"multipart", "multipart/form-data; boundary=x", "--x\r\n", 400},
			{"empty body", "application/x-www-form-urlencoded", "", 400},
			{"only other fields", "application/x-www-form-urlencoded", "q=1&r=2", 400},
		} {
			r := httptest.NewRequest("POST", base+"digest/"+digestOf([]string{"/yum/iso/boot.iso"}), strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			w := httptest.NewRecorder()
			f.svc.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("%s: %d %q, want %d", tc.name, w.Code, w.Body, tc.want)
			}
		}
		// No Content-Type and a charset parameter are accepted.
		for _, ctype := range []string{"", "application/x-www-form-urlencoded; charset=UTF-8"} {
			r := httptest.NewRequest("POST", base+"digest/"+digestOf([]string{"/yum/iso/boot.iso"}), strings.NewReader("p=%2Fyum%2Fiso%2Fboot.iso"))
			if ctype != "" {
				r.Header.Set("Content-Type", ctype)
			}
			w := httptest.NewRecorder()
			f.svc.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Errorf("Content-Type %q: %d %q, want 200", ctype, w.Code, w.Body)
			}
		}
	})
}

// TestOnceInProcess sends 50 concurrent requests for the same new digest
// and 40 for eight digests that share files: every file is hashed once.
func TestOnceInProcess(t *testing.T) {
	f := newFixture(t, nil)
	var all []string
	for _, sf := range []string{"empty-0-1.noarch.rpm", "exact-3-1.x86_64.rpm", "one-1.0-1.noarch.rpm", "piece-1.0-1.x86_64.rpm",
		"pieceplus-1.0-1.x86_64.rpm", "several-2.5-1.x86_64.rpm", "tilde-1.0~rc1-1.noarch.rpm"} {
		all = append(all, pkg(sf))
	}
	bodies := make([]string, 50)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range bodies {
		wg.Go(func() {
			<-start
			w := f.post(all...)
			if w.Code != 200 {
				t.Errorf("request %d: %d %s", i, w.Code, w.Body)
			}
			bodies[i] = w.Body.String()
		})
	}
	close(start)
	wg.Wait()
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Fatalf("request %d got another torrent than request 0", i)
		}
	}
	if n, b := f.svc.Stats.FilesHashed.Load(), f.svc.Stats.TorrentsBuilt.Load(); n != int64(len(all)) || b != 1 {
		t.Errorf("50 requests for one digest of %d files hashed %d files and built %d torrents, want %d and 1", len(all), n, b, len(all))
	}

	// Eight digests over overlapping windows of other files, five
	// requests each, all at once.
	g := newFixture(t, nil)
	files := append(slices.Clone(all), pkg("libstdc++-devel-11.4.1-2.el9.x86_64.rpm"))
	start = make(chan struct{})
	answers := make([]*httptest.ResponseRecorder, 40)
	for i := range answers {
		k := i % 8
		set := []string{files[k], files[(k+1)%8], files[(k+3)%8]}
		slices.Sort(set)
		wg.Go(func() {
			<-start
			answers[i] = g.post(set...)
		})
	}
	close(start)
	wg.Wait()
	for i, w := range answers {
		if w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
		verifyPieces(t, g.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
	}
	if n := g.svc.Stats.FilesHashed.Load(); n != 8 {
		t.Errorf("eight digests sharing 8 files hashed %d files, want 8\n%s", n, g.logs)
	}
	if n := g.svc.Stats.TorrentsBuilt.Load(); n != 8 {
		t.Errorf("built %d torrents for 8 digests, want 8", n)
	}
}

// TestWaitIsBounded holds the locks another process would hold, and
// blocks another request of the same process in the middle of hashing:
// a request that waits for them gets 503 with Retry-After once
// lock-timeout has passed, and 200 once they are free.
func TestWaitIsBounded(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.LockTimeout = 200 * time.Millisecond })
	check503 := func(what string, w *httptest.ResponseRecorder) {
		t.Helper()
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "waited too long") {
			t.Errorf("%s: %d, Retry-After %q, %q; want 503 with Retry-After saying it waited too long", what, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	hold := func(name string) *filelock.Lock {
		t.Helper()
		l, err := filelock.Acquire(context.Background(), name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	// Another process holds the info entry's lock.
	l := hold(infocache.Store{Dir: filepath.Join(f.cache, "info")}.LockPath(digestOf(somePackages)))
	check503("info entry locked elsewhere", f.post(somePackages...))
	l.Release()
	if w := f.post(somePackages...); w.Code != 200 {
		t.Errorf("after the lock was released: %d %s", w.Code, w.Body)
	}

	// Another process holds a file's piece lock.
	iso := "yum/iso/boot.iso"
	l, err := piececache.Store{Dir: filepath.Join(f.cache, "pieces")}.Lock(context.Background(), iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	check503("file locked elsewhere", f.do("GET", base+"single/"+iso, nil))
	if n := f.svc.Stats.FilesHashed.Load(); n != int64(len(somePackages)) {
		t.Errorf("hashed %d files, want only the %d of the first POST", n, len(somePackages))
	}
	l.Release()
	if w := f.do("GET", base+"single/"+iso, nil); w.Code != 200 {
		t.Errorf("after the lock was released: %d %s", w.Code, w.Body)
	}

	// Another request of this process is in the middle of hashing a file.
	entered, release := make(chan struct{}), make(chan struct{})
	disable := failpoint.Enable(failpoint.HashHalf, func(rel string) {
		if rel == "yum/other/readme.txt" || rel == "other/readme.txt" {
			close(entered)
			<-release
		}
	})
	defer disable()
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- f.do("GET", base+"single/other/readme.txt", nil) }()
	<-entered
	check503("same torrent built by another request", f.do("GET", base+"single/other/readme.txt", nil))
	check503("same file hashed by another request", f.do("GET", base+"single/other/*.txt", nil))
	close(release)
	if w := <-first; w.Code != 200 {
		t.Errorf("the blocked request: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", base+"single/other/*.txt", nil); w.Code != 200 {
		t.Errorf("after it finished: %d %s", w.Code, w.Body)
	}
}

// TestFileChangesWhileHashing changes a file between hashing it and
// checking it again: once (hashed again, the new content served and
// cached), then every time (503, nothing cached).
func TestFileChangesWhileHashing(t *testing.T) {
	rel := "yum/iso/boot.iso"
	t.Run("once", func(t *testing.T) {
		f := newFixture(t, nil)
		name := filepath.Join(f.root, rel)
		changed := false
		defer failpoint.Enable(failpoint.Hashed, func(arg string) {
			if arg == rel && !changed {
				changed = true
				fd, _ := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
				fd.Write([]byte("appended while hashing"))
				fd.Close()
			}
		})()
		w := f.do("GET", base+"single/"+rel, nil)
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		m := decodeTorrent(t, w.Body.Bytes())
		if m.info["length"].(int64) != sampleSize("/"+rel)+int64(len("appended while hashing")) {
			t.Errorf("length %d: the torrent is not of the new content", m.info["length"])
		}
		verifyPieces(t, f.root, "torrent_service", m)
		if n := f.svc.Stats.FilesHashed.Load(); n != 2 {
			t.Errorf("hashed %d times, want 2", n)
		}
		fi, _ := os.Stat(name)
		st, _, err := piececache.Decode(readFile(t, filepath.Join(f.cache, "pieces", rel, "1048576")))
		if err != nil || st != piececache.StampOf(fi) {
			t.Errorf("piece cache entry of %+v (%v), want the new version %+v", st, err, piececache.StampOf(fi))
		}
	})
	t.Run("always", func(t *testing.T) {
		f := newFixture(t, nil)
		name := filepath.Join(f.root, rel)
		disable := failpoint.Enable(failpoint.Hashed, func(arg string) {
			if arg == rel {
				fd, _ := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
				fd.Write([]byte("x"))
				fd.Close()
			}
		})
		w := f.do("GET", base+"single/"+rel, nil)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Errorf("file changing all the time: %d %q, Retry-After %q; want 503 with Retry-After", w.Code, w.Body, w.Header().Get("Retry-After"))
		}
		for _, p := range []string{filepath.Join(f.cache, "pieces", rel, "1048576"), filepath.Join(f.cache, "info", infocache.Key(singlePrefix+rel))} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was written (%v): a mixed hash may have been cached", p, err)
			}
		}
		disable()
		w = f.do("GET", base+"single/"+rel, nil)
		if w.Code != 200 {
			t.Fatalf("once it stopped changing: %d %s", w.Code, w.Body)
		}
		verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
	})
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock is a settable time for the service, to see the once-a-minute log.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestCacheFaults serves torrents over caches that are missing, read-only,
// full, not a folder, or littered with leftovers: every torrent is served
// and correct, and the log says so once a minute.
func TestCacheFaults(t *testing.T) {
	warnings := func(f *fixture) int { return strings.Count(f.logs.String(), "cache unusable") }
	// exercise sends a round of requests of every kind and checks them.
	exercise := func(t *testing.T, f *fixture) {
		t.Helper()
		for _, target := range []string{"single/yum/iso/boot.iso", "single/yum/el9/x86_64/Packages/p*.rpm"} {
			w := f.do("GET", base+target, nil)
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", target, w.Code, w.Body)
			}
			verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
		}
		for _, set := range [][]string{somePackages, somePackages[1:3]} {
			w := f.post(set...)
			if w.Code != 200 {
				t.Fatalf("POST: %d %s", w.Code, w.Body)
			}
			verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
		}
	}
	withClock := func(f *fixture) *clock {
		c := &clock{t: time.Now()}
		f.svc.now = c.now
		return c
	}

	t.Run("missing", func(t *testing.T) {
		f := newFixture(t, nil)
		if _, err := os.Stat(f.cache); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("cache folder exists before the first request")
		}
		exercise(t, f)
		for _, sub := range []string{"pieces", "info"} {
			if fi, err := os.Stat(filepath.Join(f.cache, sub)); err != nil || !fi.IsDir() {
				t.Errorf("%s not created: %v", sub, err)
			}
		}
		if n := warnings(f); n != 0 {
			t.Errorf("%d warnings about a cache that was merely missing", n)
		}
	})

	t.Run("read-only and empty", func(t *testing.T) {
		mnt := e2e.MountTmpfs(t, "1m")
		e2e.RemountReadOnly(t, mnt)
		f := newFixture(t, func(c *config.Config) { c.Cache = filepath.Join(mnt, "cache") })
		c := withClock(f)
		exercise(t, f)
		exercise(t, f)
		if n := warnings(f); n != 1 {
			t.Errorf("%d warnings in a minute, want 1:\n%s", n, f.logs)
		}
		c.add(61 * time.Second)
		exercise(t, f)
		if n := warnings(f); n != 2 {
			t.Errorf("%d warnings after a minute more, want 2", n)
		}
	})

	t.Run("read-only with entries", func(t *testing.T) {
		mnt := e2e.MountTmpfs(t, "1m")
		f := newFixture(t, func(c *config.Config) { c.Cache = filepath.Join(mnt, "cache"); c.Revalidate = 0 })
		first := f.post(somePackages...)
		e2e.RemountReadOnly(t, mnt)
		f.restart(nil)
		withClock(f)
		w := f.do("GET", base+"digest/"+digestOf(somePackages), nil)
		if w.Code != 200 || w.Body.String() != first.Body.String() {
			t.Errorf("GET of a digest cached before the cache became read-only: %d, same torrent %v", w.Code, w.Body.String() == first.Body.String())
		}
		exercise(t, f)
		if n := f.svc.Stats.FilesHashed.Load(); n != 2 {
			t.Errorf("hashed %d files, want 2 (boot.iso and piece, which were not cached before)", n)
		}
		if n := warnings(f); n != 1 {
			t.Errorf("%d warnings, want 1:\n%s", n, f.logs)
		}
	})

	t.Run("full", func(t *testing.T) {
		mnt := e2e.MountTmpfs(t, "64k")
		cache := filepath.Join(mnt, "cache")
		filler := e2e.Fill(t, mnt)
		f := newFixture(t, func(c *config.Config) { c.Cache = cache })
		withClock(f)
		exercise(t, f)
		exercise(t, f)
		if n := warnings(f); n != 1 {
			t.Errorf("%d warnings, want 1:\n%s", n, f.logs)
		}
		filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
				t.Errorf("temporary file %s left behind on a full disk", p)
			}
			return nil
		})
		// Space again: the next build fills the cache.
		os.Remove(filler)
		if w := f.post(pkg("tilde-1.0~rc1-1.noarch.rpm")); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if _, err := os.Stat(filepath.Join(cache, "pieces/yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm/1048576")); err != nil {
			t.Errorf("no piece cache entry once there was space: %v", err)
		}
	})

	t.Run("cache is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "cache")
		os.WriteFile(file, []byte("not a folder"), 0o644)
		f := newFixture(t, func(c *config.Config) { c.Cache = file })
		withClock(f)
		exercise(t, f)
		if n := warnings(f); n != 1 {
			t.Errorf("%d warnings, want 1", n)
		}
	})

	t.Run("lock file is a folder, or holds garbage", func(t *testing.T) {
		f := newFixture(t, nil)
		withClock(f)
		infos := infocache.Store{Dir: filepath.Join(f.cache, "info")}
		os.MkdirAll(infos.LockPath(digestOf(somePackages)), 0o755)
		// A lock file of an older version beside a piece entry, with
		// garbage in it: piece entries are guarded by their folder now.
		lock := filepath.Join(f.cache, "pieces", "yum/iso/boot.iso", "1048576.lock")
		os.MkdirAll(filepath.Dir(lock), 0o755)
		os.WriteFile(lock, []byte("\x00garbage\xff"), 0o644)
		exercise(t, f)
		if n := warnings(f); n != 1 {
			t.Errorf("%d warnings, want 1 (the folder)", n)
		}
	})

	t.Run("leftovers of killed writers", func(t *testing.T) {
		f := newFixture(t, nil)
		rel := "yum/iso/boot.iso"
		// A well-formed entry for the file's current version, but with
		// wrong digests, left under a temporary name: never read.
		fi, err := os.Stat(filepath.Join(f.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		bogus := &pieces.Digests{PieceLength: 1 << 20, Size: fi.Size(), Padded: make([]byte, 3*20)}
		dir := filepath.Join(f.cache, "pieces", rel)
		os.MkdirAll(dir, 0o755)
		temps := []string{filepath.Join(dir, ".tmp-1048576-12345"), filepath.Join(dir, ".tmp-1048576-67890")}
		os.WriteFile(temps[0], piececache.Encode(piececache.StampOf(fi), bogus), 0o644)
		os.WriteFile(temps[1], []byte("PTPC\x00\x01half a"), 0o644)
		infoTemp := filepath.Join(f.cache, "info", ".tmp-"+infocache.Key(singlePrefix+rel)+"-1")
		os.MkdirAll(filepath.Dir(infoTemp), 0o755)
		os.WriteFile(infoTemp, []byte("PTIC garbage"), 0o644)
		w := f.do("GET", base+"single/"+rel, nil)
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
		for _, p := range temps {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("leftover %s not removed: %v", p, err)
			}
		}
		if n := warnings(f); n != 0 {
			t.Errorf("%d warnings about leftovers", n)
		}
	})
}
