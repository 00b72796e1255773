package main

import (
	"fmt"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
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
			off := m.LogOffset(t)
			fleet.InstallAll(t, []*fleet.Host{h}, m.Repo)
			h.CheckDownloads(t, m.Repo)
			o := m.OriginBytes(t, off)
			t.Logf("%d agent URLs: the mirror sent dnf %s of packages directly (%d of %d packages), the agent %s; %.2f copies in all",
				lanes, fleet.MiB(o.DNF), len(o.DNFFiles), len(m.Repo.Pkgs), fleet.MiB(o.Others), m.Copies(o.Total))
			if lanes > 1 && o.DNF != 0 {
				t.Errorf("with %d agent URLs, dnf took %d packages (%s) straight from the mirror, want none", lanes, len(o.DNFFiles), fleet.MiB(o.DNF))
			}
			a.Proc.StopClean(t)
		})
	}
}
