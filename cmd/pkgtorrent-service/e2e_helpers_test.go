package main

// Helpers of the end-to-end tests (e2e_*_test.go): the programs they need,
// processes in their own process groups, free loopback ports, logs shown on
// failure, a tiny bencode reader and file comparisons.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// e2eTool is a program the end-to-end tests drive and the Debian package
// that installs it.
type e2eTool struct {
	what  string   // as named in the failure message
	pkg   string   // Debian package
	paths []string // where to look besides PATH (first one found wins)
	file  bool     // paths[0] is a file that must exist, not a program
}

var e2eTools = map[string]e2eTool{
	"nginx":       {"nginx", "nginx-light", []string{"/usr/sbin/nginx"}, false},
	"apache2":     {"apache2", "apache2", []string{"/usr/sbin/apache2"}, false},
	"mod_fcgid":   {"Apache mod_fcgid", "libapache2-mod-fcgid", []string{"/usr/lib/apache2/modules/mod_fcgid.so"}, true},
	"aria2c":      {"aria2c", "aria2", nil, false},
	"opentracker": {"opentracker", "opentracker", nil, false},
	"curl":        {"curl", "curl", nil, false},
	"libtorrent":  {"libtorrent for /usr/bin/python3", "python3-libtorrent", []string{"/usr/bin/python3"}, false},
	// The checks of the files under deploy/.
	"systemd-analyze":  {"systemd-analyze", "systemd", nil, false},
	"systemd-sysusers": {"systemd-sysusers", "systemd", nil, false},
	"systemd-tmpfiles": {"systemd-tmpfiles", "systemd", nil, false},
	"rpmspec":          {"rpmspec", "rpm", nil, false},
}

// e2eNeed returns the path of a program the test needs, or fails the test
// with one line naming the Debian package: the tests never skip because a
// program is missing.
func e2eNeed(t *testing.T, name string) string {
	t.Helper()
	tool, ok := e2eTools[name]
	if !ok {
		t.Fatalf("e2eNeed: unknown tool %q", name)
	}
	missing := func(detail string) {
		t.Fatalf("%s is missing (%s): install the Debian package %s (`make deps` installs it)", tool.what, detail, tool.pkg)
	}
	if tool.file {
		if _, err := os.Stat(tool.paths[0]); err != nil {
			missing(tool.paths[0] + " not found")
		}
		return tool.paths[0]
	}
	if name == "libtorrent" {
		py := tool.paths[0]
		out, err := exec.Command(py, "-c", "import libtorrent; print(libtorrent.__version__)").CombinedOutput()
		if err != nil {
			missing(fmt.Sprintf("%s -c 'import libtorrent': %v: %s", py, err, firstLine(out)))
		}
		return py
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range tool.paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	missing(name + " not in PATH")
	return ""
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// e2eBinary returns the service binary (built once per test run by
// serviceBinary), in a folder that the web servers' user can read.
func e2eBinary(t *testing.T) string {
	t.Helper()
	bin := serviceBinary(t)
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// e2eWebUser is the unprivileged user the web servers run as when the tests
// run as root (Apache refuses to serve as root); nil otherwise, and the
// servers then run as the current user.
func e2eWebUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("www-data")
	if err != nil {
		t.Fatalf("running as root, the web servers need the user www-data: %v", err)
	}
	for d := filepath.Clean(os.TempDir()); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("running as root, the web servers run as www-data and must reach the test's files under %s, but %s is not searchable by others: set TMPDIR to a folder they can reach, such as /tmp", os.TempDir(), d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return u
}

// e2eShare makes dir and the folders t.TempDir made above it readable
// and traversable by the web servers' user.
func e2eShare(t *testing.T, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir()) + string(filepath.Separator)
	for d := filepath.Clean(dir); strings.HasPrefix(d, tmp); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// e2eWritable creates dir (and parents) and, when the tests run as root,
// gives it to the web servers' user, who must write into it.
func e2eWritable(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if u := e2eWebUser(t); u != nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// e2eMirror writes the sample mirror into a new temporary folder that the
// web servers can read, and returns its path.
func e2eMirror(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mirror")
	if err := samplemirror.Create(dir); err != nil {
		t.Fatal(err)
	}
	e2eShare(t, dir)
	return dir
}

// e2eMirrorFile returns the size of a sample mirror file.
func e2eMirrorFile(t *testing.T, rel string) int64 {
	t.Helper()
	for _, f := range samplemirror.Files {
		if f.Path == rel {
			return f.Size
		}
	}
	t.Fatalf("%s is not a sample mirror file", rel)
	return 0
}

var e2ePorts struct {
	sync.Mutex
	used map[int]bool
}

// e2ePort returns a free TCP port on 127.0.0.1 (also free for UDP), never
// the same twice in one test run.
func e2ePort(t *testing.T) int {
	t.Helper()
	e2ePorts.Lock()
	defer e2ePorts.Unlock()
	if e2ePorts.used == nil {
		e2ePorts.used = make(map[int]bool)
	}
	// Below the kernel's ephemeral range (32768-60999 here), which it
	// hands to any process's sockets at any time: a port picked there
	// (as a listener on port 0 would) can be taken by another test's
	// client before the server that needs it binds it.
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if e2ePorts.used[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		e2ePorts.used[port] = true
		return port
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// e2eShowLogOnFailure prints the end of a log file when the test fails.
func e2eShowLogOnFailure(t *testing.T, name, path string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s (%s) ---\n%s", name, path, e2eTail(path, 6000))
		}
	})
}

// e2eTail returns the last n bytes of a file, or why it cannot.
func e2eTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	if off > 0 {
		return "[...]\n" + string(b)
	}
	return string(b)
}

// e2eProc is a long-running process of a test (a web server, the service,
// the tracker, a seeding client), in its own process group.
type e2eProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// e2eStart starts cmd in a new process group with stdout and stderr in the
// log file, and stops the whole group when the test ends: SIGTERM, then
// SIGKILL after 10 s. Its log is shown when the test fails.
func e2eStart(t *testing.T, name string, cmd *exec.Cmd, log string) *e2eProc {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &e2eProc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e2eShowLogOnFailure(t, name+" log", log)
	t.Cleanup(p.stop)
	return p
}

// stop ends the process group: SIGTERM, then SIGKILL after 10 s. The
// group id is the leader's pid; members that outlive the leader (FastCGI
// children of Apache) are signalled too.
func (p *e2eProc) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Whatever of the group is left (a child that ignored SIGTERM).
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// exited reports whether the process has ended.
func (p *e2eProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// e2eWait polls ready every 50 ms until it returns nil, and fails the
// test when the deadline passes or one of procs exits first.
func e2eWait(t *testing.T, what string, timeout time.Duration, ready func() error, procs ...*e2eProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s: %s exited (%v) before it was ready; its log:\n%s", what, p.name, p.err, e2eTail(p.log, 4000))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// e2eRun runs a command that must finish within timeout, in its own
// process group (killed as a whole on timeout), with its combined output
// appended to log. It returns stdout alone.
func e2eRun(t *testing.T, timeout time.Duration, log string, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "$ %s %s\n", name, strings.Join(args, " "))
	var stdout bytes.Buffer
	cmd.Stdout = io.MultiWriter(&stdout, f)
	cmd.Stderr = f
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %v: %w", filepath.Base(name), timeout, err)
	}
	return stdout.Bytes(), err
}

// e2eSameFile fails the test unless the file at got has the bytes of the
// sample mirror file rel.
func e2eSameFile(t *testing.T, who, got, rel string) {
	t.Helper()
	want := samplemirror.Content(rel, e2eMirrorFile(t, rel))
	b, err := os.ReadFile(got)
	if err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	if !bytes.Equal(b, want) {
		i := 0
		for i < min(len(b), len(want)) && b[i] == want[i] {
			i++
		}
		t.Errorf("%s: %s differs from the original %s: %d bytes, want %d; first difference at byte %d", who, got, rel, len(b), len(want), i)
	}
}

// e2eReplace returns text with each old string replaced by its new one,
// failing the test when an old string is not in text: the configuration
// under test must still contain what the test substitutes.
func e2eReplace(t *testing.T, file, text string, oldnew ...string) string {
	t.Helper()
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(text, oldnew[i]) {
			t.Fatalf("%s no longer contains %q, which the test substitutes", file, oldnew[i])
		}
		text = strings.ReplaceAll(text, oldnew[i], oldnew[i+1])
	}
	return text
}

// e2eLogLine is one line of the web servers' access logs, both written in
// the format `addr "request" status bytes "user agent"` (nginx's with its
// cache status after addr, which this skips).
type e2eLogLine struct {
	method, uri string
	status      int
	agent       string
}

// e2eAccessLog reads an access log from byte offset off on.
func e2eAccessLog(t *testing.T, path string, off int64) []e2eLogLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var lines []e2eLogLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 127.0.0.1 "GET /x HTTP/1.1" 206 1024 "aria2/1.36.0"
		_, rest, _ := strings.Cut(sc.Text(), ` "`)
		req, rest, ok1 := strings.Cut(rest, `" `)
		fields := strings.Fields(rest)
		_, agent, ok2 := strings.Cut(rest, `"`)
		parts := strings.Fields(req)
		if !ok1 || !ok2 || len(fields) < 2 || len(parts) < 2 {
			t.Fatalf("%s: unexpected access log line %q", path, sc.Text())
		}
		status, _ := strconv.Atoi(fields[0])
		lines = append(lines, e2eLogLine{parts[0], parts[1], status, strings.TrimSuffix(agent, `"`)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// e2eReadJSON decodes a JSON file into v.
func e2eReadJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func e2eSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// e2eTorrent is a .torrent file as the tests read it.
type e2eTorrent struct {
	raw         []byte
	infoHash    string // hex SHA-1 of the bencoded info, as it appears in the file
	name        string
	pieceLength int64
	length      int64 // single-file torrents
	files       []e2eTorrentFile
	urlList     []string
	announce    []string // announce-list, one per tier
}

type e2eTorrentFile struct {
	path   string // joined with "/", without the torrent's name
	length int64
	attr   string
}

// multi reports whether the torrent lists files.
func (tt *e2eTorrent) multi() bool { return tt.files != nil }

// e2eParseTorrent reads a .torrent file.
func e2eParseTorrent(b []byte) (*e2eTorrent, error) {
	d := &bdecoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.pos != len(b) {
		return nil, fmt.Errorf("bencode: %d bytes after the end", len(b)-d.pos)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("torrent is not a dictionary")
	}
	info, ok := top["info"].(map[string]any)
	if !ok || d.info == nil {
		return nil, errors.New("torrent has no info dictionary")
	}
	sum := sha1.Sum(d.info)
	tt := &e2eTorrent{raw: b, infoHash: hex.EncodeToString(sum[:])}
	tt.name, _ = info["name"].(string)
	tt.pieceLength, _ = info["piece length"].(int64)
	tt.length, _ = info["length"].(int64)
	if files, ok := info["files"].([]any); ok {
		tt.files = []e2eTorrentFile{}
		for _, f := range files {
			fd, _ := f.(map[string]any)
			var segs []string
			for _, s := range asList(fd["path"]) {
				seg, _ := s.(string)
				segs = append(segs, seg)
			}
			length, _ := fd["length"].(int64)
			attr, _ := fd["attr"].(string)
			tt.files = append(tt.files, e2eTorrentFile{strings.Join(segs, "/"), length, attr})
		}
	}
	for _, u := range asList(top["url-list"]) {
		s, _ := u.(string)
		tt.urlList = append(tt.urlList, s)
	}
	if s, ok := top["url-list"].(string); ok {
		tt.urlList = []string{s}
	}
	for _, tier := range asList(top["announce-list"]) {
		for _, u := range asList(tier) {
			s, _ := u.(string)
			tt.announce = append(tt.announce, s)
		}
	}
	return tt, nil
}

// realFiles returns the paths (under the torrent's name) of the files
// that are not padding entries.
func (tt *e2eTorrent) realFiles(service string) []string {
	var out []string
	for _, f := range tt.files {
		if !strings.HasPrefix(f.path, service+"/nullfile/") {
			out = append(out, f.path)
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// bdecoder decodes bencode and remembers where the top-level info
// dictionary's bytes are.
type bdecoder struct {
	b     []byte
	pos   int
	depth int
	info  []byte
}

func (d *bdecoder) value() (any, error) {
	if d.pos >= len(d.b) {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := d.b[d.pos]; {
	case c == 'i':
		end := bytes.IndexByte(d.b[d.pos:], 'e')
		if end < 0 {
			return nil, io.ErrUnexpectedEOF
		}
		n, err := strconv.ParseInt(string(d.b[d.pos+1:d.pos+end]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bencode integer at %d: %w", d.pos, err)
		}
		d.pos += end + 1
		return n, nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(d.b[d.pos:], ':')
		if colon < 0 {
			return nil, io.ErrUnexpectedEOF
		}
		n, err := strconv.Atoi(string(d.b[d.pos : d.pos+colon]))
		start := d.pos + colon + 1
		if err != nil || n < 0 || start+n > len(d.b) {
			return nil, fmt.Errorf("bencode string at %d: bad length", d.pos)
		}
		d.pos = start + n
		return string(d.b[start:d.pos]), nil
	case c == 'l':
		d.pos++
		d.depth++
		l := []any{}
		for d.pos < len(d.b) && d.b[d.pos] != 'e' {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		if d.pos >= len(d.b) {
			return nil, io.ErrUnexpectedEOF
		}
		d.pos++
		d.depth--
		return l, nil
	case c == 'd':
		d.pos++
		d.depth++
		m := map[string]any{}
		var keys []string
		for d.pos < len(d.b) && d.b[d.pos] != 'e' {
			k, err := d.value()
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("bencode: dictionary key at %d is not a string", d.pos)
			}
			start := d.pos
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			if d.depth == 1 && key == "info" {
				d.info = d.b[start:d.pos]
			}
			m[key] = v
			keys = append(keys, key)
		}
		if d.pos >= len(d.b) {
			return nil, io.ErrUnexpectedEOF
		}
		if !slices.IsSorted(keys) {
			return nil, fmt.Errorf("bencode: dictionary keys not sorted: %q", keys)
		}
		d.pos++
		d.depth--
		return m, nil
	default:
		return nil, fmt.Errorf("bencode: unexpected %q at %d", c, d.pos)
	}
}
