package main

import (
	"fmt"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestFleetParallelDownloads: dnf with max_parallel_downloads=10.
// librepo sends at most 3 downloads at once to one URL of a baseurl and
// the rest to the next: with one agent URL, most of a transaction's
// packages go straight to the mirror. With the lanes repos writes for 10
// (repos.Lanes: 4 agent URLs, /m/ to /m4/, before the mirror), every
// package comes through the agent: the mirror sends dnf none itself.
func TestFleetParallelDownloads(t *testing.T) {
	fleetLong(t, true)
	m := fleet.Swarm(t)
	mirrorURL := m.RepoURL(m.Base)
	for _, lanes := range []int{1, repos.Lanes(10)} {
		t.Run(fmt.Sprintf("%d-lanes", lanes), func(t *testing.T) {
			a := fleet.StartAgent(t, fleet.AgentBinary(t, false), "agent", "", []string{m.Base + "/"})
			h := fleet.NewHost(t, "host")
			var urls []string
			for n := 1; n <= lanes; n++ {
				urls = append(urls, repos.LaneURL(a.Base, n, mirrorURL))
			}
			h.RepoFile(t, append(urls, mirrorURL))
			h.Opts = append(h.Opts, "--setopt=max_parallel_downloads=10")
			_, o := m.Install(t, []*fleet.Host{h})
			t.Logf("%d agent URLs: the mirror sent dnf %s of packages directly (%d of %d packages), the agent %s; %.2f copies in all",
				lanes, fleet.MiB(o.DNF), len(o.DNFFiles), len(m.Repo.Pkgs), fleet.MiB(o.Others), m.Copies(o.Total))
			if lanes > 1 && o.DNF != 0 {
				t.Errorf("with %d agent URLs, dnf took %d packages (%s) straight from the mirror, want none", lanes, len(o.DNFFiles), fleet.MiB(o.DNF))
			}
			a.Proc.StopClean(t)
		})
	}
}

// TestFleetDnfSettings: dnf settings that fleets use, each beside the
// defaults, with 2 agents and 2 dnf hosts installing the same
// transaction (agent URLs as repos writes them for the setting). Every
// dnf succeeds, and dnf takes no package straight from the mirror, but
// for the minrate case, whose figures are only logged: a 10 KiB/s floor
// over 5 s is what dnf holds the agent to while it waits for peers. The
// origin's copies of each case are logged for the issue note.
func TestFleetDnfSettings(t *testing.T) {
	fleetLong(t, true)
	m := fleet.Swarm(t)
	mirrorURL := m.RepoURL(m.Base)
	for _, c := range []struct {
		name   string
		opts   []string
		lanes  int
		strict bool
		node   e2e.Node // the agent's HTTP endpoint
	}{
		{"defaults", nil, 1, true, e2e.Node{}},
		{"parallel-10", []string{"max_parallel_downloads=10"}, repos.Lanes(10), true, e2e.Node{}},
		{"fastestmirror", []string{"fastestmirror=True"}, 1, true, e2e.Node{}},
		{"retries-2", []string{"retries=2"}, 1, true, e2e.Node{}},
		{"minrate", []string{"minrate=10k", "timeout=5"}, 1, false, e2e.Node{}},
		{"keepcache", []string{"keepcache=True"}, 1, true, e2e.Node{}},
		{"no-deltarpm", []string{"deltarpm=False"}, 1, true, e2e.Node{}},
		// dnf resolves and connects over IPv6 only: the agent listens on
		// ::1, as repos tells the administrator.
		{"ip_resolve-6", []string{"ip_resolve=6"}, 1, true, e2e.Node{IP: "::1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hosts []*fleet.Host
			for i := range 2 {
				// Peers on 127.0.0.1, where the tracker sees them.
				a := fleet.StartAgentOn(t, c.node, fleet.AgentBinary(t, false), fmt.Sprintf("agent%d", i+1), "", []string{m.Base + "/"},
					"-peer-host", "127.0.0.1")
				h := fleet.NewHost(t, fmt.Sprintf("host%d", i+1))
				var urls []string
				for n := 1; n <= c.lanes; n++ {
					urls = append(urls, repos.LaneURL(a.Base, n, mirrorURL))
				}
				h.RepoFile(t, append(urls, mirrorURL))
				for _, o := range c.opts {
					h.Opts = append(h.Opts, "--setopt="+o)
				}
				hosts = append(hosts, h)
			}
			times, o := m.Install(t, hosts)
			t.Logf("%s: 2 hosts in %v; the origin sent %.2f copies (%s straight to dnf, %d packages)",
				c.name, slicesMax(times), m.Copies(o.Total), fleet.MiB(o.DNF), len(o.DNFFiles))
			if c.strict && o.DNF != 0 {
				t.Errorf("%s: dnf took %d packages (%s) straight from the mirror, want none", c.name, len(o.DNFFiles), fleet.MiB(o.DNF))
			}
		})
	}
}
