package repos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLanes: a repo gets ceil(max_parallel_downloads/3) agent URLs per
// mirror, /m/ then /m2/..., before the mirror; a second run changes
// nothing; a repo written with fewer lanes gets the missing ones; the
// lanes are agent URLs, not mirrors, to the allow-list.
func TestLanes(t *testing.T) {
	for n, want := range map[int]int{1: 1, 3: 1, 4: 2, 10: 4, 20: 7, 50: 7} {
		if got := Lanes(n); got != want {
			t.Errorf("Lanes(%d) = %d, want %d", n, got, want)
		}
	}
	const base = "http://127.0.0.1:7881"
	in := "[a]\nname=a\nbaseurl=http://m.example.org/el9/$basearch/\n"
	want := "[a]\nname=a\nbaseurl=http://127.0.0.1:7881/m/http/m.example.org/el9/$basearch/\n" +
		"        http://127.0.0.1:7881/m2/http/m.example.org/el9/$basearch/\n" +
		"        http://127.0.0.1:7881/m3/http/m.example.org/el9/$basearch/\n" +
		"        http://m.example.org/el9/$basearch/\n"
	r, err := RewriteLanes([]byte(in), base, 3)
	if err != nil || string(r.Text) != want {
		t.Fatalf("3 lanes: %v\n%s\nwant\n%s", err, r.Text, want)
	}
	if again, err := RewriteLanes(r.Text, base, 3); err != nil || again.Changed() {
		t.Errorf("a second run changed it: %v\n%s", err, again.Text)
	}
	one, _ := Rewrite([]byte(in), base)
	if more, err := RewriteLanes(one.Text, base, 3); err != nil || string(more.Text) != want {
		t.Errorf("from 1 lane to 3: %v\n%s\nwant\n%s", err, more.Text, want)
	}
	for _, u := range []string{base + "/m2/http/m.example.org/el9/", base + "/m7/https/m.example.org/"} {
		if _, ok := Mirror(u); ok {
			t.Errorf("Mirror(%q) is a mirror; want it taken for the agent's", u)
		}
		if _, ok := agentMirror(u); !ok {
			t.Errorf("agentMirror(%q): not an agent URL", u)
		}
	}
	for p, want := range map[string]string{"/m/http/x/": "http/x/", "/m2/http/x/": "http/x/", "/m9/x": "x", "/m1/x": "", "/m10/x": "", "/mx/": ""} {
		if got, ok := AgentPath(p); got != want || ok != (want != "") {
			t.Errorf("AgentPath(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
}

// TestReadDnfConf reads dnf.conf's [main] as dnf does.
func TestReadDnfConf(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]DnfMain{
		"[main]\ngpgcheck=1\nmax_parallel_downloads = 10\nip_resolve=IPv6\n":       {10, "6"},
		"[main]\ngpgcheck=1\nip_resolve = 4\n":                                     {3, "4"},
		"# max_parallel_downloads=20\n[main]\n[other]\nmax_parallel_downloads=9\n": {3, ""},
		"[main]\nmax_parallel_downloads=21\n":                                      {},
	} {
		p := filepath.Join(dir, "dnf.conf")
		os.WriteFile(p, []byte(text), 0o644)
		got, err := ReadDnfConf(p)
		if want.MaxParallelDownloads == 0 {
			if err == nil || !strings.Contains(err.Error(), "want 1 to 20") {
				t.Errorf("%q: %v, %v; want an error saying what dnf takes", text, got, err)
			}
			continue
		}
		if got != want || err != nil {
			t.Errorf("%q: %+v, %v; want %+v", text, got, err, want)
		}
	}
	if d, err := ReadDnfConf(filepath.Join(dir, "none")); d != (DnfMain{3, ""}) || err != nil {
		t.Errorf("no dnf.conf: %+v, %v; want dnf's defaults", d, err)
	}
}
