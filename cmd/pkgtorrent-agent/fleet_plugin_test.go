package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestFleetPlugin: the dnf 4 plugin deploy/dnf/pkgtorrent.py, loaded by
// the real dnf, sends the transaction's packages to the agent before
// the download (the agent's prefetched counter), sends nothing for
// --assumeno, and the transaction then succeeds with every package's
// bytes.
func TestFleetPlugin(t *testing.T) {
	fleetLong(t, true)
	m := fleet.Swarm(t)
	a := fleet.StartAgent(t, fleet.AgentBinary(t, false), "agent1", "", []string{m.Base + "/"})
	h := fleet.NewHost(t, "host1")
	h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
	// The shipped configuration, pointed at this agent.
	plugin, conf := fleet.ShippedPlugin(t)
	fleet.InstallPlugin(t, h, plugin, conf, a.Base)
	prefetched := func() float64 {
		t.Helper()
		mm, err := a.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		v, ok := mm["pkgtorrent_agent_prefetched_total"]
		if !ok {
			t.Fatal("the agent's /metrics has no pkgtorrent_agent_prefetched_total")
		}
		return v
	}

	// --assumeno: dnf resolves, the plugin's resolved() runs, nothing is
	// prefetched, and dnf stops.
	dnf := e2e.Need(t, "dnf")
	out, err := h.Command(nil, dnf, append([]string{"-v", "--assumeno", "install"}, m.Repo.Names()...)...).CombinedOutput()
	if !strings.Contains(string(out), "pkgtorrent") {
		t.Fatalf("dnf -v did not load the plugin (%v):\n%s", err, out)
	}
	if n := prefetched(); n != 0 {
		t.Errorf("after --assumeno the agent prefetched %v packages, want 0", n)
	}

	if _, err := h.Install(context.Background(), dnf, m.Repo.Names()); err != nil {
		t.Fatal(err)
	}
	h.CheckDownloads(t, m.Repo)
	if n, want := prefetched(), float64(len(m.Repo.Names())); n != want {
		t.Errorf("the plugin had the agent prefetch %v packages, want the transaction's %v", n, want)
	}
	a.Proc.StopClean(t)
}

// TestFleetPluginBounded: the plugin's timeout bounds its whole call, not
// each read. With the agent's address answered by a server that drips its
// answer for two minutes, or sends an answer of 3 MB, dnf's transaction
// (from the mirror alone) finishes well within that, and the plugin has
// hung up on the dripping server.
func TestFleetPluginBounded(t *testing.T) {
	fleetLong(t, false)
	m := fleet.Swarm(t)
	plugin, conf := fleet.ShippedPlugin(t)
	const drip = 2 * time.Minute
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, gone <-chan struct{})
	}{
		{"drip", func(w http.ResponseWriter, gone <-chan struct{}) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(http.StatusOK)
			for end := time.Now().Add(drip); time.Now().Before(end); {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-gone:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}},
		{"huge", func(w http.ResponseWriter, gone <-chan struct{}) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"accepted": 1, "refused": ["` + strings.Repeat("x", 3<<20) + `"]}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hungUp := make(chan time.Duration, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				io.Copy(io.Discard, r.Body)
				tc.serve(w, r.Context().Done())
				select {
				case <-r.Context().Done():
					select {
					case hungUp <- time.Since(start):
					default:
					}
				default:
				}
			}))
			defer srv.Close()
			h := fleet.NewHost(t, "host-"+tc.name)
			h.RepoFile(t, []string{m.RepoURL(m.Base)})
			fleet.InstallPlugin(t, h, plugin, conf, srv.URL)
			took, err := h.Install(context.Background(), e2e.Need(t, "dnf"), m.Repo.Names())
			if err != nil {
				t.Fatal(err)
			}
			h.CheckDownloads(t, m.Repo)
			if took >= drip/2 {
				t.Errorf("dnf took %v with the agent's answer held back, want well under %v: the plugin waited for it", took, drip/2)
			}
			if tc.name == "drip" {
				select {
				case d := <-hungUp:
					t.Logf("the plugin hung up on the dripping answer after %v", d)
				case <-time.After(drip / 2):
					t.Error("the plugin did not hang up on the dripping answer")
				}
			}
		})
	}
}
