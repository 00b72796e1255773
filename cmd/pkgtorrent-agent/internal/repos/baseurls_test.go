package repos

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestBaseURLs: the URLs of every repo's baseurl, as dnf splits them
// (spaces, commas, continuation lines), not those of [main] or of a
// value a comment ended; a file dnf rejects gives a *ParseError.
func TestBaseURLs(t *testing.T) {
	src := "[main]\nbaseurl=http://main.example.org/\n" +
		"[a]\nname=a\nbaseurl = http://a.example.org/x/, https://b.example.org/y/\n" +
		"  http://c.example.org/$releasever/\n" +
		"\thttp://d.example.org/\n" +
		"# http://comment.example.org/\n" +
		"[b]\nbaseurl=file:///srv/repo/\n"
	got, err := BaseURLs([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://a.example.org/x/", "https://b.example.org/y/", "http://c.example.org/$releasever/", "http://d.example.org/", "file:///srv/repo/"}
	if !slices.Equal(got, want) {
		t.Errorf("BaseURLs = %q, want %q", got, want)
	}
	var pe *ParseError
	if _, err := BaseURLs([]byte("baseurl=http://a.example.org/\n")); !errors.As(err, &pe) {
		t.Errorf("a key before any section: err %v, want a *ParseError", err)
	}
}

// TestMirror: a baseurl's allowed mirror is its URL up to the first dnf
// variable, cut back to a folder; the agent's own URLs and URLs with
// credentials or a query are none.
func TestMirror(t *testing.T) {
	for _, c := range []struct {
		u, want string // want "" for none
	}{
		{"http://Mirror.Example.org:80/yum/el9/x86_64/", "http://mirror.example.org/yum/el9/x86_64/"},
		{"https://mirror.example.org/pub/$releasever/os/$basearch/", "https://mirror.example.org/pub/"},
		{"http://mirror.example.org/pub/rocky$releasever/", "http://mirror.example.org/pub/"},
		{"http://127.0.0.1:7881/m/http/mirror.example.org/yum/", ""},
		{"http://[::1]:7881/m/https/mirror.example.org/yum/", ""},
		{"http://localhost/yum/", "http://localhost/yum/"},
		{"http://user:pw@mirror.example.org/yum/", ""},
		{"http://mirror.example.org/yum/?token=1", ""},
		{"ftp://mirror.example.org/yum/", ""},
	} {
		m, ok := Mirror(c.u)
		got := ""
		if ok {
			got = m.Scheme + "://" + m.Host + m.Path
		}
		if got != c.want {
			t.Errorf("Mirror(%q) = %q, want %q", c.u, got, c.want)
		}
	}
}

// TestAllowedMirrors: the mirrors of a folder's repos, once each, and
// none under another one.
func TestAllowedMirrors(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"a.repo": "[a]\nbaseurl=http://m.example.org/yum/el9/$basearch/\n        http://n.example.org/pub/\n",
		"b.repo": "[b]\nbaseurl=http://m.example.org/yum/\n[c]\nbaseurl=http://n.example.org/pub/\n",
		"c.repo": "[broken\n",
		"d.txt":  "[d]\nbaseurl=http://o.example.org/\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := RewriteDir(dir, "http://127.0.0.1:7881", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[2].Err == nil {
		t.Fatalf("RewriteDir: %d files, want a.repo, b.repo and c.repo, c.repo failing: %+v", len(files), files)
	}
	want := []string{"http://n.example.org/pub/", "http://m.example.org/yum/"}
	if got := AllowedMirrors(files); !slices.Equal(got, want) {
		t.Errorf("AllowedMirrors = %q, want %q", got, want)
	}
}

// TestSourcesProxy: each repo's proxy options as written (the last of a
// key, CRLF line ends trimmed, an empty value kept as present), and
// [main]'s from dnf.conf.
func TestSourcesProxy(t *testing.T) {
	src := "[main]\r\nproxy=http://main.example.org:3128\r\n" +
		"[a]\r\nbaseurl=http://a.example.org/\r\nproxy=http://old.example.org:1\r\nproxy = http://p.example.org:3128 \r\nproxy_username=u\r\n" +
		"[b]\r\nbaseurl=http://b.example.org/\r\nproxy=\r\n" +
		"[c]\r\nbaseurl=http://c.example.org/\r\n"
	rs, err := Sources([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"a": {"proxy": "http://p.example.org:3128", "proxy_username": "u"},
		"b": {"proxy": ""},
		"c": nil,
	}
	if len(rs) != len(want) {
		t.Fatalf("Sources: %+v, want repos a, b and c", rs)
	}
	for _, r := range rs {
		if !maps.Equal(r.Proxy, want[r.ID]) {
			t.Errorf("[%s] proxy options %q, want %q", r.ID, r.Proxy, want[r.ID])
		}
	}
	main, err := MainProxy([]byte(src))
	if err != nil || !maps.Equal(main, map[string]string{"proxy": "http://main.example.org:3128"}) {
		t.Errorf("MainProxy = %q, %v", main, err)
	}
}
