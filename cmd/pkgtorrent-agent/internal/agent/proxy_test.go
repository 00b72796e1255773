package agent

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestMirrorsProxy: the proxy of each request to a mirror is dnf's for
// that mirror (the proxy options of the repo whose baseurl holds it, each
// over dnf.conf's [main] one; _none_ or empty for none), or dnf.conf's
// for mirrors of allow settings; the proxy setting replaces them all, and
// a proxy the agent cannot speak fails the request instead of going
// straight to the mirror.
func TestMirrorsProxy(t *testing.T) {
	dir := t.TempDir()
	reposDir := filepath.Join(dir, "yum.repos.d")
	if err := os.Mkdir(reposDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(reposDir, "a.repo"), "[inherits]\nbaseurl=http://a.example.org/el9/\n"+
		"[own]\nbaseurl=http://b.example.org/el9/\nproxy=p2.example.org:8080\nproxy_password=pw2\n"+
		"[none]\nbaseurl=https://c.example.org/el9/\nproxy=_none_\n"+
		"[empty]\nbaseurl=http://d.example.org/el9/\nproxy=\n"+
		"[socks4]\nbaseurl=http://e.example.org/el9/\nproxy=socks4://s.example.org:1080\n")
	dnfConf := filepath.Join(dir, "dnf.conf")
	write(dnfConf, "[main]\ngpgcheck=1\nproxy=http://proxy.example.org:3128\nproxy_username=u\nproxy_password=pw\n")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := settings.Config{ReposDir: reposDir, DNFConf: dnfConf, Allow: []string{"http://f.example.org/"}}
	proxyOf := func(m *Mirrors, u string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Proxy(req)
		switch {
		case err != nil:
			return "error"
		case p == nil:
			return "none"
		}
		return p.String()
	}
	for _, c := range []struct {
		proxy string // the setting
		want  map[string]string
	}{
		{"", map[string]string{
			"http://a.example.org/el9/Packages/x.rpm":    "http://u:pw@proxy.example.org:3128",
			"http://b.example.org/el9/Packages/x.rpm":    "http://u:pw2@p2.example.org:8080",
			"https://c.example.org/el9/Packages/x.rpm":   "none",
			"http://d.example.org/el9/Packages/x.rpm":    "none",
			"http://e.example.org/el9/Packages/x.rpm":    "error",
			"http://f.example.org/el9/Packages/x.rpm":    "http://u:pw@proxy.example.org:3128",
			"http://B.example.org:80/el9/Packages/x.rpm": "http://u:pw2@p2.example.org:8080",
		}},
		{"https://q.example.org:3129", map[string]string{
			"http://b.example.org/el9/Packages/x.rpm":  "https://q.example.org:3129",
			"https://c.example.org/el9/Packages/x.rpm": "https://q.example.org:3129",
			"http://e.example.org/el9/Packages/x.rpm":  "https://q.example.org:3129",
		}},
		{"_none_", map[string]string{
			"http://a.example.org/el9/Packages/x.rpm": "none",
			"http://f.example.org/el9/Packages/x.rpm": "none",
		}},
	} {
		cfg.Proxy = c.proxy
		m := NewMirrors(cfg, log)
		for u, want := range c.want {
			if got := proxyOf(m, u); got != want {
				t.Errorf("proxy %q: the proxy of %s is %s, want %s", c.proxy, u, got, want)
			}
		}
		if note := m.ProxyNote(); strings.Contains(note, "pw") {
			t.Errorf("proxy %q: the log's note %q shows a password", c.proxy, note)
		}
	}

	// No dnf.conf: no proxy but the repos' own.
	cfg.Proxy, cfg.DNFConf = "", filepath.Join(dir, "missing.conf")
	m := NewMirrors(cfg, log)
	for u, want := range map[string]string{
		"http://a.example.org/el9/Packages/x.rpm": "none",
		"http://b.example.org/el9/Packages/x.rpm": "http://p2.example.org:8080",
		"http://f.example.org/el9/Packages/x.rpm": "none",
	} {
		if got := proxyOf(m, u); got != want {
			t.Errorf("without dnf.conf: the proxy of %s is %s, want %s", u, got, want)
		}
	}
}
