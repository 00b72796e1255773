package repos_test

import (
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

const agentBase = "http://127.0.0.1:7881"

// TestAllowListUnchanged: the rewritten files name the same URLs as
// before plus the agent's URLs, and the agent's allow-list
// (agent.NewMirrors) of them allows every mirror allowed before, the
// mirror of each added agent URL, and never the agent's own URLs.
func TestAllowListUnchanged(t *testing.T) {
	names, _ := filepath.Glob("testdata/in/*.repo")
	before, after := t.TempDir(), t.TempDir()
	for _, n := range names {
		for dir, src := range map[string]string{before: n, after: filepath.Join("testdata/want", filepath.Base(n))} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mb := agent.NewMirrors(settings.Config{ReposDir: before}, log)
	ma := agent.NewMirrors(settings.Config{ReposDir: after}, log)
	allowed := func(m *agent.Mirrors, u string) bool {
		u = strings.NewReplacer("$releasever", "9", "$basearch", "x86_64", "$contentdir", "pub/rocky").Replace(u)
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") {
			return false
		}
		return m.Allowed(p.Scheme, settings.CanonicalHost(p.Scheme, p.Host), p.Path+"Packages/a-1-1.noarch.rpm")
	}
	checked := 0
	for _, n := range names {
		n = filepath.Base(n)
		ub, ua := baseURLs(t, filepath.Join(before, n)), baseURLs(t, filepath.Join(after, n))
		var added []string
		for _, u := range ua {
			if i := slices.Index(ub, u); i >= 0 {
				ub = slices.Delete(ub, i, i+1)
			} else {
				added = append(added, u)
			}
		}
		if len(ub) > 0 {
			t.Errorf("%s: URLs gone after the rewrite: %q", n, ub)
		}
		for _, u := range baseURLs(t, filepath.Join(before, n)) {
			if b, a := allowed(mb, u), allowed(ma, u); b != a {
				t.Errorf("%s: %s allowed %v before, %v after", n, u, b, a)
			} else if a {
				checked++
			}
		}
		for _, u := range added {
			target, ok := strings.CutPrefix(u, agentBase+"/m/")
			if !ok {
				t.Errorf("%s: added %s, not an agent URL", n, u)
				continue
			}
			target = strings.Replace(target, "/", "://", 1)
			if !allowed(ma, target) {
				t.Errorf("%s: %s added, but the agent does not allow %s", n, u, target)
			}
			if allowed(ma, u) {
				t.Errorf("%s: the agent takes its own URL %s for a mirror", n, u)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d allowed mirror URLs checked", checked)
	}
}

func baseURLs(t *testing.T, file string) []string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := repos.BaseURLs(src)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return urls
}

// TestAllowListCredentials: the agent's allow-list leaves out the mirrors
// of repos with a password (dnf sends the agent nothing for them, and a
// stale agent URL gets 403), but for one an allow setting names, and keeps
// the mirrors of the other repos of the same file, those of the repo with
// a client certificate too (the agent presents it).
func TestAllowListCredentials(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/in/credentials.repo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials.repo"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := agent.NewMirrors(settings.Config{ReposDir: dir, Allow: []string{"https://repo.corp.example.com/el9/"}}, log)
	for _, c := range []struct {
		scheme, host, path string
		want               bool
	}{
		{"https", "repo.corp.example.com", "/el9/x86_64/repodata/repomd.xml", true},
		{"https", "repo.corp.example.com", "/el9-extras/x86_64/repodata/repomd.xml", false},
		{"https", "partner-mirror.example.net", "/rpms/el9/repodata/repomd.xml", true},
		{"https", "partner.example.net", "/rpms/el9/repodata/repomd.xml", true},
		{"http", "mirror.example.org", "/yum/el9/x86_64/repodata/repomd.xml", true},
	} {
		if got := m.Allowed(c.scheme, c.host, c.path); got != c.want {
			t.Errorf("%s://%s%s allowed %v, want %v", c.scheme, c.host, c.path, got, c.want)
		}
	}
}
