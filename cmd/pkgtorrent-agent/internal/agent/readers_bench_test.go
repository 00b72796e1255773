package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// holdingMirror is a mirror in front of m that answers torrents and
// holds every request for a package's bytes until the request ends: a
// download through it waits for pieces that do not come.
func holdingMirror(t testing.TB, m *mirror) string {
	t.Helper()
	return holdingMirrorOf(t, m, func(*http.Request) bool { return true })
}

// holdingMirrorOf is holdingMirror holding only the requests for a
// package's bytes that hold says to.
func holdingMirrorOf(t testing.TB, m *mirror, hold func(*http.Request) bool) string {
	t.Helper()
	return proxyOf(t, m, func(w http.ResponseWriter, r *http.Request, proxy http.Handler) {
		if strings.HasSuffix(r.URL.Path, ".rpm") && !strings.Contains(r.URL.Path, "/torrent_service/") && hold(r) {
			<-r.Context().Done()
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

// proxyOf serves m through serve, given the proxy to m, on a loopback
// port of its own, and returns its base URL.
func proxyOf(t testing.TB, m *mirror, serve func(w http.ResponseWriter, r *http.Request, proxy http.Handler)) string {
	t.Helper()
	target, _ := url.Parse(m.base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", e2e.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, proxy) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// waitingRequests starts an agent and n requests through it, each of a
// package of its own (1 MiB, 4 pieces) whose pieces come neither from
// peers nor from the mirror (holdingMirror), and returns once every
// request waits; stop ends the requests and the agent.
func waitingRequests(t testing.TB, n int) (a *agent, stop func()) {
	t.Helper()
	root := t.TempDir()
	for i := range n {
		writeRandom(t, root, fmt.Sprintf("%swait%03d-1-1.noarch.rpm", pkgDir, i), 1<<20)
	}
	base := holdingMirror(t, startMirror(t, root))
	a = startAgent(t, t.TempDir(), []string{base}, func(c *settings.Config) {
		c.Stall = 10 * time.Minute
		c.MaxRequests = 2 * n
	})
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url(fmt.Sprintf("%s/%swait%03d-1-1.noarch.rpm", base, pkgDir, i)), nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	e2e.Wait(t, "every request waiting", time.Minute, func() error {
		users := 0
		for _, ts := range a.swarm.Status().Torrents {
			users += ts.Users
		}
		if users != n {
			return fmt.Errorf("%d of %d requests reading", users, n)
		}
		return nil
	})
	return a, func() {
		cancel()
		wg.Wait()
		a.stop()
	}
}

// BenchmarkWaitingReaders: requests wait for pieces that come neither
// from peers nor from the mirror (waitingRequests); it reports the CPU
// the process used over 10 s while they wait (core-%), and per request
// (core-%/request).
//
// On the machine of 2026-12-06 (AMD EPYC family 26, 2 cores): 16
// requests 2.05 % of a core and 128 requests 5.3 to 6.2 % while each
// request looked at its piece and the torrent's progress every 20 ms
// (two calls that take the engine's lock); 0.039 % and 0.038 % since
// they sleep until the engine's piece state changes (reader.go).
func BenchmarkWaitingReaders(b *testing.B) {
	for _, n := range []int{16, 128} {
		b.Run(fmt.Sprintf("requests=%d", n), func(b *testing.B) {
			_, stop := waitingRequests(b, n)
			defer stop()
			time.Sleep(2 * time.Second)
			share := coreShare(b, 10*time.Second)
			b.ReportMetric(share, "core-%")
			b.ReportMetric(share/float64(n), "core-%/request")
		})
	}
}

// TestWaitingReadersLeaveTheEngine: requests waiting for pieces do not
// call the engine until something changes. With the engine's lock held
// for a second, none of 16 waiting requests waits for it. Before, each
// looked at its piece every 20 ms, taking the engine's lock twice: all
// 16 waited for it within the second (BenchmarkWaitingReaders has the
// CPU this cost).
func TestWaitingReadersLeaveTheEngine(t *testing.T) {
	const n = 16
	a, stop := waitingRequests(t, n)
	defer stop()
	a.swarm.mu.Lock()
	var tor *torrent.Torrent
	for _, it := range a.swarm.items {
		tor = it.t
	}
	a.swarm.mu.Unlock()
	// Counted as readers, the requests may still be on their way to
	// the wait (looking at the piece, subscribing to its changes): the
	// lock is held once every one sleeps in it.
	e2e.Wait(t, "every request asleep in its wait", 30*time.Second, func() error {
		if _, asleep, _ := readerStates(); asleep != n {
			return fmt.Errorf("%d of %d asleep", asleep, n)
		}
		return nil
	})
	release := holdEngine(t, a, tor)
	time.Sleep(time.Second)
	waiting, _, blocked := readerStates()
	release()
	if waiting != n || blocked != 0 {
		t.Errorf("%d requests waiting for pieces, %d of them for the engine's lock; want %d and none", waiting, blocked, n)
	}
}

// readerStates counts, in a dump of every goroutine, the requests
// waiting for pieces (in swarmReader.readVerified), those of them asleep
// in waitPiece's select, and those waiting for a lock.
func readerStates() (waiting, asleep, blocked int) {
	buf := make([]byte, 16<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if !strings.Contains(g, "(*swarmReader).readVerified") {
			continue
		}
		waiting++
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[select") && strings.Contains(g, "(*swarmReader).waitPiece") {
			asleep++
		}
		if strings.Contains(g, "RLock") || strings.Contains(g, ").Lock(") {
			blocked++
		}
	}
	return waiting, asleep, blocked
}

// TestStallFallsBack: a request whose torrent makes no progress for
// stall streams the file from the mirror, after about stall: its wait
// wakes on the stall's deadline (no piece state changes), not on a
// poll.
func TestStallFallsBack(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"s-1-1.noarch.rpm", 3<<20+5)
	// The fill's ranges are held; the fallback's whole file is not.
	base := holdingMirrorOf(t, startMirror(t, root), func(r *http.Request) bool { return r.Header.Get("Range") != "" })
	const stall = time.Second
	a := startAgent(t, t.TempDir(), []string{base}, func(c *settings.Config) { c.Stall = stall })
	start := time.Now()
	getWhole(t, "agent", a.url(base+"/"+pkgDir+"s-1-1.noarch.rpm"), want)
	took := time.Since(start)
	t.Logf("the request took %v", took)
	if st := a.swarm.Status().Totals; st.FromFallback != int64(len(want)) {
		t.Errorf("%+v, want the whole file streamed from the mirror", st)
	}
	if took < stall || took > 4*stall {
		t.Errorf("the request took %v, want about the stall (%v), less than 4 x stall", took, stall)
	}
}

// TestSlowPiecesNoFallback: a torrent whose pieces come slower than the
// stall time but whose bytes keep coming (a mirror sending 8 KiB every
// 60 ms, pieces of 256 KiB: 1.9 s each, stall 1 s) makes progress: the
// request waits for it and nothing falls back to the mirror.
func TestSlowPiecesNoFallback(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"slow-1-1.noarch.rpm", 512<<10)
	m := startMirrorWith(t, root, []string{"-piece-length", "256KiB"})
	base := proxyOf(t, m, func(w http.ResponseWriter, r *http.Request, proxy http.Handler) {
		if r.Header.Get("Range") != "" && strings.HasSuffix(r.URL.Path, ".rpm") {
			w = &trickle{ResponseWriter: w, every: 60 * time.Millisecond, n: 8 << 10}
		}
		proxy.ServeHTTP(w, r)
	})
	a := startAgent(t, t.TempDir(), []string{base}, func(c *settings.Config) { c.Stall = time.Second })
	getWhole(t, "agent", a.url(base+"/"+pkgDir+"slow-1-1.noarch.rpm"), want)
	if st := a.swarm.Status().Totals; st.FromFallback != 0 || st.FromOrigin != int64(len(want)) {
		t.Errorf("%+v, want every byte from the fill, none from the fallback", st)
	}
}

// trickle writes n bytes every so often, flushed.
type trickle struct {
	http.ResponseWriter
	every time.Duration
	n     int
}

func (w *trickle) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		k := min(len(p), w.n)
		time.Sleep(w.every)
		k, err := w.ResponseWriter.Write(p[:k])
		done += k
		if err != nil {
			return done, err
		}
		w.ResponseWriter.(http.Flusher).Flush()
		p = p[k:]
	}
	return done, nil
}
