package main

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
// port, in its own process group (see e2e.Start), with its log in a file.
type server struct {
	*e2e.Proc
	t   *testing.T
	url string // http://127.0.0.1:port
}

// startServer starts bin -http 127.0.0.1:0 with args, and env added to
// the environment, and waits until it listens. The test's end stops it.
func startServer(t *testing.T, name, bin string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-http", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	s := &server{Proc: e2e.Start(t, name, cmd, filepath.Join(t.TempDir(), "service.log")), t: t}
	m := s.waitLog(regexp.MustCompile(`msg="serving HTTP" addr=(\S+)`), time.Minute)
	s.url = "http://" + m[1]
	return s
}

// waitLog waits until a log line matches re and returns its submatches;
// it fails the test when the process ends or the deadline passes first.
func (s *server) waitLog(re *regexp.Regexp, within time.Duration) []string {
	s.t.Helper()
	var m []string
	e2e.Wait(s.t, s.Name+": a log line matching "+re.String(), within, func() error {
		if m = re.FindStringSubmatch(s.log()); m == nil {
			return errors.New("none yet")
		}
		return nil
	}, s.Proc)
	return m
}

// log returns what the process logged so far.
func (s *server) log() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would.
func (s *server) kill() { s.Kill() }

// stop ends the process with SIGTERM and waits until it has exited, its
// log complete.
func (s *server) stop() {
	s.t.Helper()
	s.Cmd.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		s.t.Errorf("%s: exit after SIGTERM: %v\n%s", s.Name, err, s.log())
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
