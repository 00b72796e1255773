package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFleetPlugin: the dnf 4 plugin deploy/dnf/pkgtorrent.py, loaded by
// the real dnf, sends the transaction's packages to the agent before
// the download (the agent's prefetched counter), sends nothing for
// --assumeno, and the transaction then succeeds with every package's
// bytes.
func TestFleetPlugin(t *testing.T) {
	fleetLong(t, true)
	m := fleetSwarm(t)
	a := fleetStartAgent(t, fleetAgentBinary(t, false), "agent1", "", []string{m.base + "/"})
	h := fleetNewHost(t, "host1")
	h.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
	plugin, err := os.ReadFile("../../deploy/dnf/pkgtorrent.py")
	if err != nil {
		t.Fatal(err)
	}
	// The shipped configuration, pointed at this agent.
	conf, err := os.ReadFile("../../deploy/dnf/pkgtorrent.conf")
	if err != nil {
		t.Fatal(err)
	}
	confDir := fleetInstallPlugin(t, h, string(plugin), string(conf), a.base)
	prefetched := func() float64 {
		t.Helper()
		mm, err := a.metrics()
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
	dnf := fleetNeed(t, "dnf")
	args := []string{"--installroot=" + filepath.Join(h.dir, "root"), "--releasever=9",
		"--setopt=reposdir=" + filepath.Join(h.dir, "reposd"),
		"--setopt=cachedir=" + filepath.Join(h.dir, "cache"),
		"--setopt=pluginpath=" + filepath.Join(h.dir, "plugins"),
		"--setopt=pluginconfpath=" + confDir, "-v", "--assumeno", "install"}
	out, err := exec.Command(dnf, append(args, m.repo.names()...)...).CombinedOutput()
	if !strings.Contains(string(out), "pkgtorrent") {
		t.Fatalf("dnf -v did not load the plugin (%v):\n%s", err, out)
	}
	if n := prefetched(); n != 0 {
		t.Errorf("after --assumeno the agent prefetched %v packages, want 0", n)
	}

	if _, err := h.install(context.Background(), dnf, m.repo.names()); err != nil {
		t.Fatal(err)
	}
	h.checkDownloads(t, m.repo)
	if n, want := prefetched(), float64(len(m.repo.names())); n != want {
		t.Errorf("the plugin had the agent prefetch %v packages, want the transaction's %v", n, want)
	}
	a.proc.stopClean(t)
}
