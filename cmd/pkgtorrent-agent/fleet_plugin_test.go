package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	plugin, err := os.ReadFile("../../deploy/dnf/pkgtorrent.py")
	if err != nil {
		t.Fatal(err)
	}
	// The shipped configuration, pointed at this agent.
	conf, err := os.ReadFile("../../deploy/dnf/pkgtorrent.conf")
	if err != nil {
		t.Fatal(err)
	}
	confDir := fleet.InstallPlugin(t, h, string(plugin), string(conf), a.Base)
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
	args := []string{"--installroot=" + filepath.Join(h.Dir, "root"), "--releasever=9",
		"--setopt=reposdir=" + filepath.Join(h.Dir, "reposd"),
		"--setopt=cachedir=" + filepath.Join(h.Dir, "cache"),
		"--setopt=pluginpath=" + filepath.Join(h.Dir, "plugins"),
		"--setopt=pluginconfpath=" + confDir, "-v", "--assumeno", "install"}
	out, err := exec.Command(dnf, append(args, m.Repo.Names()...)...).CombinedOutput()
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
