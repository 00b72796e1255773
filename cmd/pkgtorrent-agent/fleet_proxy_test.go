package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestFleetProxy is a host behind an HTTP proxy: its dnf.conf sets
// proxy=, and the proxy (tinyproxy) is its only way to the mirror (the
// host's namespace has no route to the mirror's address). librepo sends
// every URL of a repo through the proxy, the agent's 127.0.0.1 one too,
// which a proxy elsewhere cannot reach; the shipped dnf plugin puts the
// agent in dnf's no_proxy (no_proxy in dnf's environment does the same
// without it), and the agent reaches the mirror through the proxy it
// reads from the same dnf.conf. Then at least 95 % of the package bytes
// come through the agent. Without either, dnf sends the agent's URL to
// the proxy, and gets every package from the mirror. With the agent
// stopped, dnf still installs, through the proxy, in about the time of a
// host without agent.
func TestFleetProxy(t *testing.T) {
	fleetLong(t, true)
	dnf := e2e.Need(t, "dnf")
	pn := fleet.NewProxyNet(t)
	proxy := e2e.StartTinyproxy(t, pn.Proxy, fleet.ProxyHostIP)
	m := fleet.StartMirrorOn(t, pn.Mirror, fleet.Repository(t), nil)
	mirrorAddr := strings.TrimPrefix(m.Base, "http://")
	if c, err := pn.Host.DialContext(t.Context(), "tcp", mirrorAddr); err == nil {
		c.Close()
		t.Fatalf("the host reaches the mirror %s without the proxy: the test would prove nothing", mirrorAddr)
	} else {
		t.Logf("the host without the proxy: %v", err)
	}
	dnfConf := filepath.Join(t.TempDir(), "dnf.conf")
	e2e.WriteFile(t, dnfConf, "[main]\nproxy="+proxy.URL+"\n")
	plugin, pluginConf := fleet.ShippedPlugin(t)
	// newHost is a dnf host in the proxy network with that dnf.conf and
	// more environment variables env: local-first when agent is set (with
	// the shipped plugin when withPlugin), else on the mirror alone.
	newHost := func(name, agent string, withPlugin bool, env ...string) *fleet.Host {
		h := fleet.NewHost(t, name)
		h.Node = pn.Host
		h.Opts = append(h.Opts, "--config="+dnfConf)
		h.Env = env
		urls := []string{m.RepoURL(m.Base)}
		if agent != "" {
			urls = append([]string{m.AgentRepoURL(agent, m.Base)}, urls...)
		}
		if withPlugin {
			fleet.InstallPlugin(t, h, plugin, pluginConf, agent)
		}
		h.RepoFile(t, urls)
		return h
	}
	// install runs dnf on h and returns its time and the package bytes
	// the mirror sent meanwhile.
	install := func(h *fleet.Host) (time.Duration, fleet.OriginBytes) {
		t.Helper()
		off := m.LogOffset(t)
		d, err := h.Install(t.Context(), dnf, m.Repo.Names())
		if err != nil {
			t.Fatalf("%v\n%s", err, e2e.Tail(h.Log, 3000))
		}
		h.CheckDownloads(t, m.Repo)
		return d, m.OriginBytes(t, off)
	}

	// The reference: dnf through the proxy, without agent.
	plainTime, o := install(newHost("plain", "", false))
	if o.DNF != m.Repo.Total {
		t.Errorf("without agent, dnf got %d package bytes through the proxy, want all %d", o.DNF, m.Repo.Total)
	}

	a := fleet.StartAgentOn(t, pn.Host, fleet.AgentBinary(t, false), "agent", "", []string{m.Base + "/"}, "-dnf-conf", dnfConf)
	for _, c := range []struct {
		name, how  string
		withPlugin bool
		env        []string
	}{
		{"plugin", "with the dnf plugin", true, nil},
		{"noproxy", "with no_proxy=127.0.0.1 in dnf's environment", false, []string{"no_proxy=127.0.0.1"}},
	} {
		proxyOff := e2e.Size(t, proxy.Log)
		before := a.Sources(t)
		d, o := install(newHost(c.name, a.Base, c.withPlugin, c.env...))
		s := a.Sources(t)
		through := 1 - float64(o.DNF)/float64(m.Repo.Total)
		torrents, packages, _ := countURLs(proxyRequests(t, proxy.Log, proxyOff), m.Base+"/")
		t.Logf("%s: dnf took %v (%v through the proxy alone); %.1f%% of the package bytes came through the agent, %s straight from the mirror to dnf through the proxy; the agent fetched %s through the proxy (%d torrent and %d package requests), having %s from the hosts before",
			c.how, d.Round(time.Millisecond), plainTime.Round(time.Millisecond), 100*through, fleet.MiB(o.DNF), fleet.MiB(o.Others), torrents, packages,
			fleet.MiB(int64(before.Total())))
		if through < 0.95 {
			t.Errorf("%s: %.1f%% of the package bytes came through the agent (%d of %d bytes went straight to dnf), want at least 95%%", c.how, 100*through, o.DNF, m.Repo.Total)
		}
		if before.Total() == 0 && (torrents == 0 || packages == 0 || o.Others == 0 || s.Origin == 0) {
			t.Errorf("%s: the agent's requests to the mirror through the proxy: %d for torrents, %d for packages, %d package bytes (%v); want some of each", c.how, torrents, packages, o.Others, s)
		}
	}

	// Neither: librepo asks the proxy for the agent's URL, which the
	// proxy cannot reach, and takes every package from the mirror.
	proxyOff := e2e.Size(t, proxy.Log)
	_, o = install(newHost("neither", a.Base, false))
	_, _, toAgent := countURLs(proxyRequests(t, proxy.Log, proxyOff), a.Base+"/")
	t.Logf("neither plugin nor no_proxy: %s of packages straight from the mirror to dnf through the proxy; the proxy was asked for %d URLs of the agent", fleet.MiB(o.DNF), toAgent)
	if o.DNF != m.Repo.Total || toAgent == 0 {
		t.Errorf("without the plugin or no_proxy, dnf got %d package bytes straight from the mirror (want all %d) and asked the proxy for %d of the agent's URLs (want some): librepo sends the agent's URL through the proxy", o.DNF, m.Repo.Total, toAgent)
	}

	// A dead agent costs nothing: dnf gets every package through the
	// proxy, the agent's URL refused at once.
	a.Proc.StopClean(t)
	deadTime, o := install(newHost("dead", a.Base, true))
	t.Logf("agent stopped: dnf took %v (%v through the proxy alone), %s through the proxy", deadTime.Round(time.Millisecond), plainTime.Round(time.Millisecond), fleet.MiB(o.DNF))
	if o.DNF != m.Repo.Total {
		t.Errorf("with the agent stopped, dnf got %d package bytes through the proxy, want all %d", o.DNF, m.Repo.Total)
	}
	if d := deadTime - plainTime; d > 10*time.Second {
		t.Errorf("with the agent stopped, dnf took %v more than without agent, want about the same", d)
	}
}

// proxyRequests returns the URLs of the requests that tinyproxy's log
// shows from byte offset off on.
func proxyRequests(t *testing.T, log string, off int64) []string {
	t.Helper()
	var urls []string
	for _, l := range e2e.LogLines(t, log, off) {
		// Request (file descriptor N): GET http://host:port/path HTTP/1.1
		_, req, ok := strings.Cut(l, "]: Request (file descriptor ")
		if f := strings.Fields(req); ok && len(f) >= 3 {
			urls = append(urls, f[2])
		}
	}
	return urls
}

// countURLs counts the urls under base: the service's torrents, the
// packages, and all.
func countURLs(urls []string, base string) (torrents, packages, all int) {
	for _, u := range urls {
		if !strings.HasPrefix(u, base) {
			continue
		}
		all++
		switch {
		case strings.Contains(u, "/"+e2e.ServiceName+"/single/"):
			torrents++
		case strings.HasSuffix(u, ".rpm"):
			packages++
		}
	}
	return torrents, packages, all
}
