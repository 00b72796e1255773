package agent

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// BenchmarkHTTPUnderLoad: three agents found through opentracker fetch
// the same 48 packages of 8 MiB (384 MiB) at once, each request after
// request, eight at a time, with pieces from each other and from the
// mirror; meanwhile /status, /metrics and the first byte of a
// pass-through (a repomd.xml of 4 KiB) are timed on one of them, one
// request after the other, and the same file straight from the mirror
// (mirror-). That agent's store holds 500 finished torrents besides. It reports the slowest answer of each
// (status-max-ms, metrics-max-ms, passthrough-max-ms), and the 99th
// percentile (-p99-ms). Issue 20's bound: 100 ms.
func BenchmarkHTTPUnderLoad(b *testing.B) {
	const files, size, hosts, atOnce = 48, 8 << 20, 3, 8
	root := b.TempDir()
	var names []string
	for i := range files {
		names = append(names, fmt.Sprintf("load%02d-1-1.noarch.rpm", i))
		writeRandom(b, root, pkgDir+names[i], size)
	}
	writeRandom(b, root, "yum/el9/x86_64/repodata/repomd.xml", 4<<10)
	m, _ := startTrackedMirror(b, root, nil, names...)
	// The probed agent's store holds 500 finished torrents besides, as a
	// host's does after a while.
	stored, _, _ := finishedStores(b, 500, 16<<10, 1)
	timings := map[string][]time.Duration{}
	for b.Loop() {
		var agents []*agent
		for i := range hosts {
			store := b.TempDir()
			if i == 1 {
				store = b.TempDir()
				if err := os.CopyFS(store, os.DirFS(stored[0])); err != nil {
					b.Fatal(err)
				}
			}
			agents = append(agents, startAgent(b, store, []string{m.base}, func(c *settings.Config) {
				c.Stall = 30 * time.Second
			}))
		}
		probed := agents[1]
		waitSeeding(b, probed, 500)
		stop := make(chan struct{})
		probes := sync.WaitGroup{}
		probes.Add(1)
		go func() {
			defer probes.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, p := range []struct{ name, path string }{
					{"status", "/status"},
					{"metrics", "/metrics"},
					{"passthrough", "/m/" + stringsReplaceScheme(m.base) + "/yum/el9/x86_64/repodata/repomd.xml"},
					// The same file from the mirror, not through the agent.
					{"mirror", m.base + "/yum/el9/x86_64/repodata/repomd.xml"},
				} {
					u := probed.srv.URL + p.path
					if p.name == "mirror" {
						u = p.path
					}
					start := time.Now()
					resp, err := http.Get(u)
					if err != nil {
						b.Errorf("GET %s: %v", p.path, err)
						return
					}
					var one [1]byte
					io.ReadFull(resp.Body, one[:])
					timings[p.name] = append(timings[p.name], time.Since(start))
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		start := time.Now()
		var wg sync.WaitGroup
		for _, a := range agents {
			work := make(chan string)
			for range atOnce {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range work {
						resp, err := http.Get(a.url(m.base + "/" + pkgDir + n))
						if err != nil {
							b.Errorf("%s: %v", n, err)
							continue
						}
						got, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if got != size {
							b.Errorf("%s: %d bytes, want %d", n, got, size)
						}
					}
				}()
			}
			go func() {
				for _, n := range names {
					work <- n
				}
				close(work)
			}()
		}
		wg.Wait()
		took := time.Since(start)
		close(stop)
		probes.Wait()
		for i, a := range agents {
			t := a.swarm.Status().Totals
			b.Logf("agent %d: from peers %d MiB, origin %d MiB, fallback %d MiB, uploaded %d MiB in %v",
				i, t.FromPeers>>20, t.FromOrigin>>20, t.FromFallback>>20, t.Uploaded>>20, took)
			a.stop()
		}
	}
	for _, name := range []string{"status", "metrics", "passthrough", "mirror"} {
		d := timings[name]
		slices.Sort(d)
		if len(d) == 0 {
			continue
		}
		b.ReportMetric(float64(d[len(d)-1])/1e6, name+"-max-ms")
		b.ReportMetric(float64(d[len(d)*99/100])/1e6, name+"-p99-ms")
		b.Logf("%s: %d answers, median %v, p99 %v, max %v", name, len(d), d[len(d)/2], d[len(d)*99/100], d[len(d)-1])
	}
}
