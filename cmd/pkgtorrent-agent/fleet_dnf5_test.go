package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestFleetDNF5 runs dnf 5 hosts: Debian unstable's dnf5, in the root
// that `make dnf5-root` builds, chrooted (see fleet.DNF5Root), against
// the test mirror and the real agent binary. Each case is a host with an
// agent of its own, fresh, installing the test repository's packages:
//
//   - local-first: the repo's baseurl lists the agent, then the mirror,
//     and nothing else changes; every package byte comes through the agent
//     (the mirror sends none to dnf5 itself), and nothing is prefetched;
//   - plugin: the same with the shipped dnf 5 plugin, the actions file
//     deploy/dnf/pkgtorrent.actions running `pkgtorrent-agent
//     dnf5-prefetch`. With --assumeno the plugin runs and prefetches
//     nothing (dnf5's log says so); then the install prefetches every
//     package of the transaction (/status totals.prefetched) before dnf5
//     downloads them through the agent.
func TestFleetDNF5(t *testing.T) {
	fleetLong(t, true)
	out, err := fleet.NewDNF5Host(t, "version").Command(t.Context(), "", "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("dnf5 --version in the dnf 5 root: %v\n%s", err, out)
	}
	version, _, _ := strings.Cut(string(out), "\n")
	t.Log(version)
	m := fleet.Swarm(t)
	bin := fleet.AgentBinary(t, false)
	for _, plugin := range []bool{false, true} {
		name := map[bool]string{false: "local-first", true: "plugin"}[plugin]
		t.Run(name, func(t *testing.T) {
			a := fleet.StartAgent(t, bin, "agent-"+name, "", []string{m.Base + "/"})
			h := fleet.NewDNF5Host(t, "host-"+name)
			h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
			logDir := filepath.Join(h.Dir, "log")
			h.Opts = append(h.Opts, "--setopt=logdir="+logDir)
			dnfLog := func() string {
				b, _ := os.ReadFile(filepath.Join(logDir, "dnf5.log"))
				return string(b)
			}
			if plugin {
				fleet.InstallDNF5Plugin(t, h, bin, a.Base)
				out, err := h.Command(t.Context(), "", append([]string{"--assumeno", "install"}, m.Repo.Names()...)...).CombinedOutput()
				if !strings.Contains(dnfLog(), "pkgtorrent: no prefetch: nothing is downloaded (--assumeno)") {
					t.Fatalf("dnf5 --assumeno (%v) did not run the plugin: its log lacks the plugin's line\n%s\n%s", err, out, e2e.Tail(filepath.Join(logDir, "dnf5.log"), 3000))
				}
				var st agent.Status
				if a.Status(t, &st); st.Totals.Prefetched != 0 {
					t.Errorf("after --assumeno the agent prefetched %d packages, want 0", st.Totals.Prefetched)
				}
			}
			off := m.LogOffset(t)
			took, err := h.Install(t.Context(), "", m.Repo.Names())
			if err != nil {
				t.Fatalf("%v\n%s", err, e2e.Tail(h.Log, 3000))
			}
			h.CheckDownloads(t, m.Repo)
			o := m.OriginBytes(t, off)
			s := a.Sources(t)
			var st agent.Status
			a.Status(t, &st)
			t.Logf("dnf5 %s: %d packages (%s) in %v; the agent: %v, prefetched %d; the mirror sent %s to the agent, %s to dnf5 itself",
				name, len(m.Repo.Pkgs), fleet.MiB(m.Repo.Total), took.Round(time.Millisecond), s, st.Totals.Prefetched, fleet.MiB(o.Others), fleet.MiB(o.DNF))
			// dnf5's librepo says "libdnf (...)" as dnf 4's does, which
			// fleet.FromDNF counts as dnf's own.
			if o.DNF != 0 {
				t.Errorf("the mirror sent dnf5 %d bytes of packages itself (%d files), want none: all through the agent", o.DNF, len(o.DNFFiles))
			}
			if got := int64(s.Total()); got < m.Repo.Total {
				t.Errorf("the agent has %d bytes of packages from peers, origin and fallback, want at least the transaction's %d", got, m.Repo.Total)
			}
			want := int64(0)
			if plugin {
				want = int64(len(m.Repo.Pkgs))
			}
			if n := st.Totals.Prefetched; n != want {
				t.Errorf("/status totals.prefetched = %d, want %d", n, want)
			}
			if line := fmt.Sprintf("pkgtorrent: prefetching %d packages, 0 refused", want); plugin && !strings.Contains(dnfLog(), line) {
				t.Errorf("dnf5's log lacks the plugin's %q", line)
			}
			a.Proc.StopClean(t)
		})
	}
}
