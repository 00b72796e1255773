package agent

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// The mirror of these tests is the real pkgtorrent-service binary in its
// standalone HTTP mode: it serves the files under its root (the web seed)
// and the torrents under /{top}/torrent_service/.

// serviceBinary builds pkgtorrent-service once per test run.
func serviceBinary(t testing.TB) string {
	t.Helper()
	return e2e.GoBinary(t, e2e.Service)
}

// mirror is a running service over a document root.
type mirror struct {
	root string
	base string // http://127.0.0.1:port
}

// startMirror runs the service on a free loopback port over root, with
// the announce URLs in trackers (none when empty).
func startMirror(t testing.TB, root string, trackers ...string) *mirror {
	t.Helper()
	return startMirrorWith(t, root, nil, trackers...)
}

// startMirrorWith is startMirror with more of the service's flags.
func startMirrorWith(t testing.TB, root string, flags []string, trackers ...string) *mirror {
	t.Helper()
	dir := t.TempDir()
	tf := filepath.Join(dir, "trackers")
	var b bytes.Buffer
	for _, tr := range trackers {
		b.WriteString(tr + "\n")
	}
	if err := os.WriteFile(tf, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args := append([]string{"-http", addr, "-root", root, "-cache", filepath.Join(dir, "cache"), "-trackers", tf}, flags...)
	cmd := exec.Command(serviceBinary(t), args...)
	p := e2e.Start(t, "pkgtorrent-service", cmd, filepath.Join(dir, "service.log"))
	m := &mirror{root: root, base: "http://" + addr}
	e2e.Wait(t, "the service", 20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}, p)
	return m
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// freeAddr is 127.0.0.1:port with a port free for TCP and UDP.
func freeAddr(t testing.TB) string {
	t.Helper()
	return e2e.Addr(t)
}

// waitFor waits up to 20 s until ok reports true.
func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	e2e.Wait(t, what, 20*time.Second, func() error {
		if ok() {
			return nil
		}
		return errors.New("did not come up")
	})
}

// writeRandom writes n random bytes at root/rel and returns them.
func writeRandom(t testing.TB, root, rel string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// agent is an in-process agent: its swarm and handler on a loopback port.
type agent struct {
	cfg   settings.Config
	swarm *Swarm
	stats *Stats
	srv   *httptest.Server
	log   *syncWriter // its log, debug level
}

// logText is what the agent logged so far.
func (a *agent) logText() string {
	a.log.mu.Lock()
	defer a.log.mu.Unlock()
	return a.log.w.(*bytes.Buffer).String()
}

// startAgent starts an agent allowed to fetch from m, with cfg's
// defaults changed by opts.
func startAgent(t testing.TB, store string, allow []string, opts ...func(*settings.Config)) *agent {
	t.Helper()
	cfg := settings.Default()
	cfg.PeerPort = 0
	cfg.PeerHost = "127.0.0.1"
	cfg.Store = store
	cfg.ReposDir = ""
	cfg.Allow = allow
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The engine may log after the test ends: into a buffer, shown when
	// the test fails (or always, with AGENT_TEST_LOG=1 in the
	// environment).
	var logBuf bytes.Buffer
	lw := &syncWriter{w: &logBuf}
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("AGENT_TEST_LOG") != "" {
			lw.mu.Lock()
			t.Logf("agent log (store %s):\n%s", store, logBuf.String())
			lw.mu.Unlock()
		}
	})
	origin := &http.Client{Timeout: time.Minute}
	stats := NewStats()
	sw, err := NewSwarm(cfg, origin, stats, log)
	if err != nil {
		t.Fatal(err)
	}
	mirrors := NewMirrors(cfg, log)
	sw.needsCert = mirrors.NeedsCert
	h := NewHandler(cfg, sw, mirrors, origin, stats, log)
	a := &agent{cfg: cfg, swarm: sw, stats: stats, srv: httptest.NewServer(h), log: lw}
	t.Cleanup(a.stop)
	return a
}

func (a *agent) stop() {
	if a.srv != nil {
		a.srv.Close()
		a.swarm.Close()
		a.srv = nil
	}
}

// url is the agent's URL for the file at mirror URL u (http://host/path).
func (a *agent) url(u string) string {
	return a.srv.URL + "/m/" + stringsReplaceScheme(u)
}

func stringsReplaceScheme(u string) string {
	for _, s := range []string{"http", "https"} {
		if p := s + "://"; len(u) > len(p) && u[:len(p)] == p {
			return s + "/" + u[len(p):]
		}
	}
	return u
}

// getWhole fetches u through an agent (who names it) and fails the test
// unless the answer is 200 with exactly want.
func getWhole(t testing.TB, who, u string, want []byte) {
	t.Helper()
	if resp, got := get(t, u); resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("%s: status %d, %d bytes; want 200 and the mirror's %d", who, resp.StatusCode, len(got), len(want))
	}
}

// get fetches u and returns the status and body.
func get(t testing.TB, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", u, err)
	}
	return resp, b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
