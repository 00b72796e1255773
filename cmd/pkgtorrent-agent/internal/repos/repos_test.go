package repos

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const base = "http://127.0.0.1:7881"

// fixtures returns the names of testdata/in/*.repo; testdata/want/ holds
// each one rewritten, by hand.
func fixtures(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob("testdata/in/*.repo")
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in testdata/in (%v)", err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRewriteFixtures: realistic repo files come out as written by hand in
// testdata/want, byte for byte (comments, other keys, blank lines, CRLF,
// a missing last newline).
func TestRewriteFixtures(t *testing.T) {
	for _, n := range fixtures(t) {
		t.Run(n, func(t *testing.T) {
			in, want := read(t, "testdata/in/"+n), read(t, "testdata/want/"+n)
			r, err := Rewrite(in, base)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Text, want) {
				t.Errorf("rewritten:\n%s\nwant:\n%s", r.Text, want)
			}
			if r.Changed() == bytes.Equal(in, want) {
				t.Errorf("Changed() = %v, want %v", r.Changed(), !bytes.Equal(in, want))
			}
		})
	}
}

// TestRewriteTwice: a second run changes nothing.
func TestRewriteTwice(t *testing.T) {
	for _, n := range fixtures(t) {
		want := read(t, "testdata/want/"+n)
		r, err := Rewrite(want, base)
		if err != nil {
			t.Fatal(err)
		}
		if r.Changed() || !bytes.Equal(r.Text, want) || r.Diff(n) != nil {
			t.Errorf("%s: the second run changed it:\n%s", n, r.Diff(n))
		}
	}
}

// TestDiffApplies: the printed diff is one GNU patch applies, and it
// makes the same file as Rewrite.
func TestDiffApplies(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Fatal("patch is missing: install the Debian package patch (`make deps` installs it)")
	}
	dir := t.TempDir()
	var all []byte
	for _, n := range fixtures(t) {
		in := read(t, "testdata/in/"+n)
		if err := os.WriteFile(filepath.Join(dir, n), in, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Rewrite(in, base)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r.Diff(n)...)
	}
	cmd := exec.Command("patch", "-p0", "--batch", "--no-backup-if-mismatch")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(all)
	if out, err := cmd.CombinedOutput(); err != nil || bytes.Contains(out, []byte("offset")) || bytes.Contains(out, []byte("fuzz")) {
		t.Fatalf("patch: %v\n%s\ndiff:\n%s", err, out, all)
	}
	for _, n := range fixtures(t) {
		if got, want := read(t, filepath.Join(dir, n)), read(t, "testdata/want/"+n); !bytes.Equal(got, want) {
			t.Errorf("%s patched:\n%q\nwant:\n%q", n, got, want)
		}
	}
}

// TestDiffFormat: the diff is the one GNU diff -u prints for the same
// files (but for the dates in its header).
func TestDiffFormat(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"hunks.repo": []byte("[a]\nname=a\nbaseurl=http://m.example.org/a/\ngpgcheck=0\n\n\n\n\n\n\n\n[b]\nname=b\n" +
			"baseurl=http://m.example.org/b/\n\n\n\n\n\n\n[c]\nbaseurl=http://m.example.org/c/"),
	}
	for _, n := range fixtures(t) {
		cases[n] = read(t, "testdata/in/"+n)
	}
	for n, in := range cases {
		r, err := Rewrite(in, base)
		if err != nil {
			t.Fatal(err)
		}
		a, b := filepath.Join(dir, n+".old"), filepath.Join(dir, n+".new")
		if err := os.WriteFile(a, in, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, r.Text, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("diff", "-u", a, b).Output()
		if err != nil && len(out) == 0 && r.Changed() {
			t.Fatalf("diff: %v", err)
		}
		want := ""
		if len(out) > 0 {
			_, rest, _ := strings.Cut(string(out), "\n+++ ")
			_, rest, _ = strings.Cut(rest, "\n")
			want = "--- " + n + "\n+++ " + n + "\n" + rest
		}
		if got := string(r.Diff(n)); got != want {
			t.Errorf("%s: diff:\n%s\nGNU diff -u:\n%s", n, got, want)
		}
	}
}

// TestMetalinkHints: repos with metalink= or mirrorlist= and no baseurl
// (Fedora's default) are left alone, with one hint each.
func TestMetalinkHints(t *testing.T) {
	in := read(t, "testdata/in/fedora.repo")
	r, err := Rewrite(in, base)
	if err != nil {
		t.Fatal(err)
	}
	if r.Changed() || !bytes.Equal(r.Text, in) {
		t.Fatalf("fedora.repo changed:\n%s", r.Diff("fedora.repo"))
	}
	want := []struct{ id, key, line string }{
		{"fedora", "metalink=", "line 3 "},
		{"fedora-debuginfo", "metalink=", "line 16 "},
		{"fedora-source", "mirrorlist=", ""},
	}
	if len(r.Repos) != len(want) {
		t.Fatalf("%d repos, want %d", len(r.Repos), len(want))
	}
	for i, w := range want {
		h := r.Repos[i].Hint
		if r.Repos[i].ID != w.id || !strings.HasPrefix(h, "["+w.id+"] uses "+w.key) ||
			!strings.Contains(h, "--setopt="+w.id+".baseurl=") || strings.Contains(h, "line ") != (w.line != "") ||
			!strings.Contains(h, w.line) || strings.Contains(h, "\n") {
			t.Errorf("repo %d: %s hint %q, want one line for %s, %s, %q", i, r.Repos[i].ID, h, w.id, w.key, w.line)
		}
	}
	// A repo with both keeps its metalink and gets the agent in its baseurl.
	r, err = Rewrite([]byte("[epel]\nmetalink=https://mirrors.fedoraproject.org/metalink?repo=epel-9\nbaseurl=http://m.example.org/epel/9/\n"), base)
	if err != nil || !r.Changed() || r.Repos[0].Hint != "" {
		t.Errorf("metalink and baseurl: changed %v, hint %q, err %v; want changed, no hint", r != nil && r.Changed(), r.Repos[0].Hint, err)
	}
}

// TestKeptURLs: URLs the agent does not fetch stay as they are, with a
// note for the http ones; file:// and ftp:// need none.
func TestKeptURLs(t *testing.T) {
	r, err := Rewrite(read(t, "testdata/in/local.repo"), base)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, rp := range r.Repos {
		notes = append(notes, rp.Notes...)
	}
	if len(notes) != 2 || !strings.HasPrefix(notes[0], "[private] https://user:xxxxx@private.example.com/el9/ kept") ||
		!strings.HasPrefix(notes[1], "[private] http://mirror.example.org/private/el9/?xxxxx kept") {
		t.Errorf("notes %q, want the two [private] URLs", notes)
	}
	var added []string
	for _, rp := range r.Repos {
		added = append(added, rp.Added...)
	}
	want := []string{
		base + "/m/http/mirror.example.org/yum/el9/$basearch/",
		base + "/m/https/mirror3.example.com/extras/",
		base + "/m/http/mirror.example.org/yum/tail/",
	}
	if !slices.Equal(added, want) {
		t.Errorf("added %q, want %q", added, want)
	}
}

// TestRewriteCases: single changes, with the expected file written out.
func TestRewriteCases(t *testing.T) {
	const a = "http://127.0.0.1:7881/m/http/m/a/"
	for _, c := range []struct{ name, in, want string }{
		{"no baseurl", "[a]\nname=a\n", "[a]\nname=a\n"},
		{"empty baseurl", "[a]\nbaseurl=\n", "[a]\nbaseurl=\n"},
		{"main is not a repo", "[main]\nbaseurl=http://m/a/\n", "[main]\nbaseurl=http://m/a/\n"},
		{"BOM", "\ufeff[a]\nbaseurl=http://m/a/\n", "\ufeff[a]\nbaseurl=http://127.0.0.1:7881/m/http/m/a/\n        http://m/a/\n"},
		{"value on continuation lines only", "[a]\nbaseurl=\n  http://m/a/\n  http://n/a/\n",
			"[a]\nbaseurl=\n  http://127.0.0.1:7881/m/http/m/a/\n  http://127.0.0.1:7881/m/http/n/a/\n  http://m/a/\n  http://n/a/\n"},
		{"several on one line", "[a]\nbaseurl=http://m/a/ http://n/a/\n",
			"[a]\nbaseurl=http://127.0.0.1:7881/m/http/m/a/\n        http://127.0.0.1:7881/m/http/n/a/\n        http://m/a/ http://n/a/\n"},
		{"same mirror twice", "[a]\nbaseurl=http://m/a/ HTTP://M:80/a/\n",
			"[a]\nbaseurl=http://127.0.0.1:7881/m/http/m/a/\n        http://m/a/ HTTP://M:80/a/\n"},
		{"two baseurl keys", "[a]\nbaseurl=http://m/a/\nbaseurl=http://n/a/\n",
			"[a]\nbaseurl=http://127.0.0.1:7881/m/http/m/a/\n        http://m/a/\nbaseurl=http://127.0.0.1:7881/m/http/n/a/\n        http://n/a/\n"},
		{"agent on another port counts", "[a]\nbaseurl=http://[::1]:9000/m/http/m/a/ http://m/a/\n", "[a]\nbaseurl=http://[::1]:9000/m/http/m/a/ http://m/a/\n"},
		{"agent of another mirror", "[a]\nbaseurl=http://127.0.0.1:7881/m/http/n/a/ http://m/a/\n",
			"[a]\nbaseurl=http://127.0.0.1:7881/m/http/n/a/\n        http://127.0.0.1:7881/m/http/m/a/\n        http://m/a/\n"},
		{"variable in the host", "[a]\nbaseurl=http://$mirror/a/\n", "[a]\nbaseurl=http://$mirror/a/\n"},
		{"spaces around =", "[a]\nbaseurl =  http://m/a/\n", "[a]\nbaseurl =  http://127.0.0.1:7881/m/http/m/a/\n           http://m/a/\n"},
		{"key is case-sensitive", "[a]\nBaseURL=http://m/a/\n", "[a]\nBaseURL=http://m/a/\n"},
		{"commented-out baseurl", "[a]\n#baseurl=http://m/a/\n;baseurl=http://m/a/\n", "[a]\n#baseurl=http://m/a/\n;baseurl=http://m/a/\n"},
		{"spaces-only line inside the value", "[a]\nbaseurl=http://m/a/\n  \n\thttp://n/a/\n",
			"[a]\nbaseurl=http://127.0.0.1:7881/m/http/m/a/\n\thttp://127.0.0.1:7881/m/http/n/a/\n\thttp://m/a/\n  \n\thttp://n/a/\n"},
		{"CRLF empty line inside the value", "[a]\r\nbaseurl=\r\n\r\n  http://m/a/\r\n",
			"[a]\r\nbaseurl=\r\n\r\n  http://127.0.0.1:7881/m/http/m/a/\r\n  http://m/a/\r\n"},
		{"trailing spaces kept", "[a]\r\nbaseurl=http://m/a/  \r\n", "[a]\r\nbaseurl=http://127.0.0.1:7881/m/http/m/a/\r\n        http://m/a/  \r\n"},
		// Which keys are credentials (one note each such repo), and how
		// agent URLs come out of each layout of a value.
		{"proxy credentials are the proxy's", "[a]\nproxy=http://p:3128\nproxy_username=u\nproxy_password=p\nbaseurl=http://m/a/\n",
			"[a]\nproxy=http://p:3128\nproxy_username=u\nproxy_password=p\nbaseurl=" + a + "\n        http://m/a/\n"},
		{"sslcacert alone is no credential", "[a]\nsslcacert=/ca.pem\nbaseurl=http://m/a/\n", "[a]\nsslcacert=/ca.pem\nbaseurl=" + a + "\n        http://m/a/\n"},
		{"empty username", "[a]\nusername=\nbaseurl=http://m/a/\n", "[a]\nusername=\nbaseurl=" + a + "\n        http://m/a/\n"},
		{"keys are case-sensitive", "[a]\nUsername=u\nbaseurl=http://m/a/\n", "[a]\nUsername=u\nbaseurl=" + a + "\n        http://m/a/\n"},
		{"a value on the next line", "[a]\nbaseurl=http://m/a/\npassword=\n  p\n", "[a]\nbaseurl=http://m/a/\npassword=\n  p\n"},
		{"key after baseurl", "[a]\nbaseurl=http://m/a/\npassword=p\n", "[a]\nbaseurl=http://m/a/\npassword=p\n"},
		{"a client certificate goes through the agent", "[a]\nbaseurl=https://m/a/\nsslclientcert=/c.pem\nsslclientkey=/k.pem\n",
			"[a]\nbaseurl=http://127.0.0.1:7881/m/https/m/a/\n        https://m/a/\nsslclientcert=/c.pem\nsslclientkey=/k.pem\n"},
		{"the key line takes the next line's URLs", "[a]\nusername=u\nbaseurl = " + a + "\n          http://m/a/ http://n/a/\r\n",
			"[a]\nusername=u\nbaseurl = http://m/a/ http://n/a/\r\n"},
		{"over a spaces-only line", "[a]\nusername=u\nbaseurl=" + a + "\n  \n  http://m/a/\n", "[a]\nusername=u\nbaseurl=http://m/a/\n  \n"},
		{"first on a line", "[a]\nusername=u\nbaseurl=" + a + ", http://m/a/\n", "[a]\nusername=u\nbaseurl=http://m/a/\n"},
		{"last on a line", "[a]\nusername=u\nbaseurl=http://m/a/ http://localhost:9/m/http/m/a/  \n", "[a]\nusername=u\nbaseurl=http://m/a/  \n"},
		{"a line of its own", "[a]\nusername=u\nbaseurl=file:///x\n\t" + a + "\n\thttp://m/a/\n", "[a]\nusername=u\nbaseurl=file:///x\n\thttp://m/a/\n"},
		{"its mirror not in the list", "[a]\nusername=u\nbaseurl=http://[::1]:7881/m/https/M.example.org/a/\n", "[a]\nusername=u\nbaseurl=https://M.example.org/a/\n"},
		{"the same mirror twice", "[a]\nusername=u\nbaseurl=" + a + " http://localhost:7881/m/http/M:80/a/\n", "[a]\nusername=u\nbaseurl=http://m/a/\n"},
		{"two baseurl keys", "[a]\nusername=u\nbaseurl=" + a + "\n  http://m/a/\nbaseurl=" + a + "\n  http://m/a/\n",
			"[a]\nusername=u\nbaseurl=http://m/a/\nbaseurl=http://m/a/\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Rewrite([]byte(c.in), base)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Text) != c.want {
				t.Errorf("rewritten %q, want %q", r.Text, c.want)
			}
			if len(r.Repos) > 0 && len(r.Repos[0].Credentials) > 0 && len(r.Repos[0].Notes) != 1 {
				t.Errorf("credentials %q, notes %q: want one note", r.Repos[0].Credentials, r.Repos[0].Notes)
			}
		})
	}
}

// TestParseErrors: files libdnf's IniParser rejects are rejected, with
// the line. Each case was checked with dnf 4.14's (libdnf 0.69)
// libdnf.conf.ConfigParser.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		in   string
		line int
	}{
		{"baseurl=http://m/\n", 1},
		{"[a]\n  http://m/\n", 2},
		{"[a\nbaseurl=http://m/\n", 1},
		{"[]\n", 1},
		{"[a]\nbaseurl http://m/\n", 2},
		{"[a]\n=http://m/\n", 2},
		// dnf 4.14 rejects these; newer IniParsers continue the value.
		{"[a]\nbaseurl=http://m/\n# c\n  http://n/\n", 4},
		{"[a]\nbaseurl=http://m/\n\n  http://n/\n", 4},
	} {
		_, err := Rewrite([]byte(c.in), base)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != c.line {
			t.Errorf("%q: err %v, want a ParseError on line %d", c.in, err, c.line)
		}
	}
	for _, ok := range []string{"", "\n\n", "# only a comment\n", "[a] # comment\nname=a\n", "[a] b\n", "[a]\nname=a\n  \n  more\n", "  \n[a]\n  \nname=a\n"} {
		if _, err := Rewrite([]byte(ok), base); err != nil {
			t.Errorf("%q: %v, want no error", ok, err)
		}
	}
}

func TestAgentBase(t *testing.T) {
	for _, c := range []struct{ listen, want string }{
		{"127.0.0.1:7881", "http://127.0.0.1:7881"},
		{":7881", "http://127.0.0.1:7881"},
		{"0.0.0.0:7881", "http://127.0.0.1:7881"},
		{"[::]:7881", "http://[::1]:7881"},
		{"[::1]:9000", "http://[::1]:9000"},
		{"localhost:7881", "http://localhost:7881"},
		{"127.0.0.2:7881", "http://127.0.0.2:7881"},
		{"10.0.0.5:7881", ""},
		{"mirror.example.org:7881", ""},
		{"7881", ""},
	} {
		got, err := AgentBase(c.listen)
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("AgentBase(%q) = %q, %v; want %q", c.listen, got, err, c.want)
		}
	}
}

// FuzzRewrite: whatever the file, Rewrite does not panic, a second run
// changes nothing, and the rewritten file holds the old one's words, but
// for those Rewrite says it removed, and those it says it added.
func FuzzRewrite(f *testing.F) {
	for _, n := range fixtures(f) {
		f.Add(read(f, "testdata/in/"+n))
	}
	f.Add([]byte("[a]\nbaseurl=file:///x,http://m/a/,,http://n/$x/ ftp://f/\n\t\thttp://o/ ,\n"))
	f.Add([]byte("[a]\nusername=u\nbaseurl=http://127.0.0.1:7881/m/http/m/a/ ,http://m/a/\n  http://[::1]:1/m/https/n/b/,\n\n" +
		"[b]\nsslclientkey=\n  k\nbaseurl = http://localhost:2/m/http/m/a/  \n  \n\thttp://127.0.0.1:7881/m/http/m/a/ http://M/a/\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Rewrite(in, base)
		if err != nil {
			return
		}
		r2, err := Rewrite(r.Text, base)
		if err != nil {
			t.Fatalf("second run: %v, on %q", err, r.Text)
		}
		if r2.Changed() {
			t.Fatalf("second run: diff:\n%s", r2.Diff("x"))
		}
		if !r.Changed() && !bytes.Equal(r.Text, in) {
			t.Fatal("unchanged, but the text differs")
		}
		// The new file has the old one's words (split at separators and
		// '='), plus the added URLs: nothing is lost or changed.
		words := map[string]int{}
		count := func(s string, d int) {
			for _, w := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\r\n,=", r) }) {
				words[w] += d
			}
		}
		count(string(r.Text), 1)
		count(string(in), -1)
		for _, rp := range r.Repos {
			for _, a := range slices.Concat(rp.Added, rp.Restored) {
				count(a, -1)
			}
			for _, a := range rp.Removed {
				count(a, 1)
			}
		}
		for w, n := range words {
			if n != 0 {
				t.Fatalf("word %q: %+d against the old file and the added URLs", w, n)
			}
		}
	})
}
