package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackpal/bencode-go"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// failpointBinary builds the binary with -tags failpoint once per test
// run: PKGTORRENT_FAILPOINT=name makes it stop at that failpoint (see
// pkg/failpoint), so a test can kill it right there.
func failpointBinary(t *testing.T) string {
	t.Helper()
	b := raceService
	b.Name, b.Tags = "pkgtorrent-service-failpoint", []string{"failpoint"}
	return e2e.GoBinary(t, b)
}

// server is one process of the real binary in -http mode on a loopback
// port, with its stderr (the log) collected.
type server struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port

	mu   sync.Mutex
	logs bytes.Buffer
	cond *sync.Cond
	eof  bool
	done chan struct{} // closed when stderr is at EOF
}

// startServer starts bin -http 127.0.0.1:0 with args, and env added to
// the environment, and waits until it listens. The test's end kills it.
func startServer(t *testing.T, name, bin string, env []string, args ...string) *server {
	t.Helper()
	s := &server{t: t, name: name, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	s.cmd = exec.Command(bin, append([]string{"-http", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.cond.Broadcast()
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.eof = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	m := s.waitLog(regexp.MustCompile(`msg="serving HTTP" addr=(\S+)`), time.Minute)
	s.url = "http://" + m[1]
	return s
}

// waitLog waits until a log line matches re and returns its submatches;
// it fails the test when the process ends or the deadline passes first.
func (s *server) waitLog(re *regexp.Regexp, within time.Duration) []string {
	s.t.Helper()
	deadline := time.Now().Add(within)
	timer := time.AfterFunc(within, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if m := re.FindStringSubmatch(s.logs.String()); m != nil {
			return m
		}
		if s.eof || time.Now().After(deadline) {
			s.t.Fatalf("%s: no log line matching %s (process ended: %v):\n%s", s.name, re, s.eof, s.logs.String())
		}
		s.cond.Wait()
	}
}

// log returns what the process logged so far.
func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// stop ends the process with SIGTERM and waits until its log is complete.
func (s *server) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	if err := s.cmd.Wait(); err != nil {
		s.t.Errorf("%s: exit after SIGTERM: %v\n%s", s.name, err, s.log())
	}
}

// count returns the number of log lines that contain all of parts.
func count(logs string, parts ...string) int {
	n := 0
	for line := range strings.Lines(logs) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// grep returns the log lines that contain any of parts.
func grep(logs string, parts ...string) string {
	var b strings.Builder
	for line := range strings.Lines(logs) {
		for _, p := range parts {
			if strings.Contains(line, p) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

// hashedPaths returns how often each path was hashed, from the
// `msg="file hashed"` debug lines of logs.
func hashedPaths(logs ...string) map[string]int {
	re := regexp.MustCompile(`msg="file hashed" path=(\S+)`)
	n := map[string]int{}
	for _, l := range logs {
		for _, m := range re.FindAllStringSubmatch(l, -1) {
			n[m[1]]++
		}
	}
	return n
}

// checkPieces decodes a multi-file or single-file torrent and recomputes
// its pieces from the files under root and zeros for padding entries,
// independently of the code under test.
func checkPieces(t *testing.T, root string, body []byte) {
	t.Helper()
	v, err := bencode.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("torrent does not decode: %v", err)
	}
	raw := v.(map[string]any)
	info := raw["info"].(map[string]any)
	pl := int(info["piece length"].(int64))
	var readers []io.Reader
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	open := func(name string) {
		f, err := os.Open(name)
		if err != nil {
			t.Fatalf("torrent names %s: %v", name, err)
		}
		closers = append(closers, f)
		readers = append(readers, f)
	}
	if files, ok := info["files"].([]any); ok {
		for _, fe := range files {
			e := fe.(map[string]any)
			parts := []string{root, info["name"].(string)}
			for _, p := range e["path"].([]any) {
				parts = append(parts, p.(string))
			}
			if _, isPad := e["attr"]; isPad || parts[2] == "torrent_service" {
				readers = append(readers, io.LimitReader(zeroReader{}, e["length"].(int64)))
				continue
			}
			open(filepath.Join(parts...))
		}
	} else {
		u, err := url.Parse(raw["url-list"].([]any)[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		open(filepath.Join(root, filepath.FromSlash(u.Path), info["name"].(string)))
	}
	all := io.MultiReader(readers...)
	want := []byte(info["pieces"].(string))
	buf := make([]byte, pl)
	for i := 0; ; i++ {
		n, err := io.ReadFull(all, buf)
		if n == 0 {
			if i*sha1.Size != len(want) {
				t.Errorf("torrent has %d pieces, the files %d", len(want)/sha1.Size, i)
			}
			return
		}
		sum := sha1.Sum(buf[:n])
		if (i+1)*sha1.Size > len(want) || !bytes.Equal(sum[:], want[i*sha1.Size:(i+1)*sha1.Size]) {
			t.Fatalf("piece %d differs from the files' bytes", i)
		}
		if err != nil {
			if (i+1)*sha1.Size != len(want) {
				t.Errorf("torrent has %d pieces, the files %d", len(want)/sha1.Size, i+1)
			}
			return
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// client returns an HTTP client for many concurrent requests to a few
// loopback servers.
func client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		Timeout:   5 * time.Minute,
	}
}

// yumFetch does what yum-torrent does for paths: GET the digest, and on
// 412 POST the paths. It returns the final status and body. host is the
// Host header: the mirror's name, the same whichever process answers
// (the web seed URL in the torrent is made from it).
func yumFetch(c *http.Client, base, host string, paths []string) (int, []byte, error) {
	sum := sha1.Sum([]byte(strings.Join(paths, "\n")))
	u := fmt.Sprintf("%s/digest/%x", base, sum)
	do := func(method string, body io.Reader) (int, []byte, error) {
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			return 0, nil, err
		}
		req.Host = host
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	status, body, err := do(http.MethodGet, nil)
	if err != nil || status != http.StatusPreconditionFailed {
		return status, body, err
	}
	return do(http.MethodPost, strings.NewReader(url.Values{"p": paths}.Encode()))
}
