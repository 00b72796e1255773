package repos

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCredentials: repos with username/password
// (testdata/in/credentials.repo) get no agent URL and one note each; the
// agent URLs an earlier run put in come out, and their mirrors are not
// allowed. A repo with a client certificate is made local-first, its
// mirrors allowed, with a note that the agent presents the certificate.
// The file as a whole is TestRewriteFixtures'.
func TestCredentials(t *testing.T) {
	r, err := Rewrite(read(t, "testdata/in/credentials.repo"), base)
	if err != nil {
		t.Fatal(err)
	}
	const (
		pw   = "it has username, password (dnf would send the agent the password in clear text)"
		cert = " has a client certificate (sslclientcert, sslclientkey): the agent presents it to the mirror, and must be able to read it (pkgtorrent-agent(8), CLIENT CERTIFICATES)"
	)
	want := []Repo{
		{ID: "corp", Credentials: []string{"username", "password"},
			Notes: []string{"[corp] kept on its own mirror without the agent: " + pw}},
		{ID: "corp-extras", Credentials: []string{"username", "password"},
			Removed: []string{base + "/m/https/repo.corp.example.com/el9-extras/$basearch/"},
			Notes:   []string{"[corp-extras] kept on its own mirror without the agent: " + pw + "; the agent's URLs are taken out of its baseurl"}},
		{ID: "partner", Mirrors: []string{"https://partner.example.net/rpms/el9/", "https://partner-mirror.example.net/rpms/el9/"},
			Added: []string{base + "/m/https/partner.example.net/rpms/el9/", base + "/m/https/partner-mirror.example.net/rpms/el9/"},
			Notes: []string{"[partner]" + cert}},
		{ID: "public", Mirrors: []string{"http://mirror.example.org/yum/el9/$basearch/"},
			Added: []string{base + "/m/http/mirror.example.org/yum/el9/$basearch/"}},
	}
	if len(r.Repos) != len(want) {
		t.Fatalf("%d repos, want %d: %+v", len(r.Repos), len(want), r.Repos)
	}
	for i, w := range want {
		if g := r.Repos[i]; !sameRepo(g, w) {
			t.Errorf("repo %d:\n%#v\nwant\n%#v", i, g, w)
		}
	}
	urls, err := BaseURLs(read(t, "testdata/in/credentials.repo"))
	partner := []string{"https://partner.example.net/rpms/el9/", "https://partner-mirror.example.net/rpms/el9/"}
	if want := append(partner, "http://mirror.example.org/yum/el9/$basearch/"); err != nil || !slices.Equal(urls, want) {
		t.Errorf("BaseURLs = %q, %v; want [partner]'s and [public]'s", urls, err)
	}
	if got, want := AllowedMirrors([]File{{Result: r}}), append(partner, "http://mirror.example.org/yum/el9/"); !slices.Equal(got, want) {
		t.Errorf("AllowedMirrors = %q, want %q", got, want)
	}
}

func sameRepo(a, b Repo) bool {
	return a.ID == b.ID && slices.Equal(a.Mirrors, b.Mirrors) && slices.Equal(a.Added, b.Added) &&
		slices.Equal(a.Credentials, b.Credentials) && slices.Equal(a.Removed, b.Removed) &&
		slices.Equal(a.Restored, b.Restored) && a.Command == b.Command && slices.Equal(a.Notes, b.Notes) && a.Hint == b.Hint
}

// TestCredentialMetalink: a repo with credentials and a metalink gets the
// note, not the hint to give it a baseurl (it would stay on its mirror all
// the same). TestRewriteCases has the rest.
func TestCredentialMetalink(t *testing.T) {
	r, err := Rewrite([]byte("[a]\nmetalink=https://mirrors.example.org/metalink?repo=a\npassword=p\n"), base)
	if err != nil || r.Repos[0].Hint != "" || len(r.Repos[0].Notes) != 1 {
		t.Errorf("metalink and a password: hint %q, notes %q, err %v; want no hint, one note", r.Repos[0].Hint, r.Repos[0].Notes, err)
	}
	// A certificate does not keep a repo on its mirror: the hint.
	r, err = Rewrite([]byte("[a]\nmetalink=https://mirrors.example.org/metalink?repo=a\nsslclientcert=/c.pem\n"), base)
	if err != nil || r.Repos[0].Hint == "" || len(r.Repos[0].Notes) != 0 {
		t.Errorf("metalink and a certificate: hint %q, notes %q, err %v; want the hint, no note", r.Repos[0].Hint, r.Repos[0].Notes, err)
	}
}

// TestSubscriptionManager: subscription-manager's redhat.repo is left as
// it is, byte for byte; each repo, with the entitlement certificate (which
// the agent presents) or without, gets the repo-override command for its
// local-first baseurl, but the one that has its agent URL already; those
// with the certificate get the note on it too. No real redhat.repo has a
// repo without certificate lines (subscription-manager writes them for
// every repo): [Example_Org_EPEL_EPEL_9_x86_64] lost them.
func TestSubscriptionManager(t *testing.T) {
	in := read(t, "testdata/in/redhat.repo")
	r, err := Rewrite(in, base)
	if err != nil {
		t.Fatal(err)
	}
	if r.Changed() || !bytes.Equal(r.Text, in) || r.Diff("redhat.repo") != nil || r.Owner != "subscription-manager" {
		t.Fatalf("changed %v, owner %q; want unchanged, subscription-manager's:\n%s", r.Changed(), r.Owner, r.Diff("redhat.repo"))
	}
	if r.Note != "subscription-manager writes this file and overwrites changes made to it: left as it is, even with -w" {
		t.Errorf("note %q", r.Note)
	}
	const (
		cert = " has a client certificate (sslclientcert, sslclientkey): the agent presents it to the mirror, and must be able to read it (pkgtorrent-agent(8), CLIENT CERTIFICATES)"
		sat  = "satellite.example.com/pulp/content/Example_Org/Library/"
		rhel = sat + "content/dist/rhel9/$releasever/x86_64/"
		epel = "http://" + sat + "custom/EPEL/EPEL_9_x86_64/"
	)
	add := func(id, mirror string) string {
		scheme, rest, _ := strings.Cut(mirror, "://")
		return "subscription-manager repo-override --repo=" + id + " --add=baseurl:'" + base + "/m/" + scheme + "/" + rest + " " + mirror + "'"
	}
	local := func(id, mirror string) string {
		return "[" + id + "] is in a file subscription-manager writes: make it local-first with: " + add(id, mirror)
	}
	var (
		baseos    = "https://" + rhel + "baseos/os"
		appstream = "https://" + rhel + "appstream/os"
		source    = "https://" + rhel + "baseos/source/SRPMS"
	)
	want := []Repo{
		{ID: "rhel-9-for-x86_64-baseos-rpms", Mirrors: []string{baseos}, Command: add("rhel-9-for-x86_64-baseos-rpms", baseos),
			Notes: []string{local("rhel-9-for-x86_64-baseos-rpms", baseos), "[rhel-9-for-x86_64-baseos-rpms]" + cert}},
		{ID: "rhel-9-for-x86_64-appstream-rpms", Mirrors: []string{appstream}, Notes: []string{"[rhel-9-for-x86_64-appstream-rpms]" + cert}},
		{ID: "rhel-9-for-x86_64-baseos-source-rpms", Mirrors: []string{source}, Command: add("rhel-9-for-x86_64-baseos-source-rpms", source),
			Notes: []string{local("rhel-9-for-x86_64-baseos-source-rpms", source), "[rhel-9-for-x86_64-baseos-source-rpms]" + cert}},
		{ID: "Example_Org_EPEL_EPEL_9_x86_64", Mirrors: []string{epel}, Command: add("Example_Org_EPEL_EPEL_9_x86_64", epel),
			Notes: []string{local("Example_Org_EPEL_EPEL_9_x86_64", epel)}},
	}
	if len(r.Repos) != len(want) {
		t.Fatalf("%d repos, want %d", len(r.Repos), len(want))
	}
	for i, w := range want {
		if g := r.Repos[i]; !sameRepo(g, w) {
			t.Errorf("repo %d:\n%#v\nwant\n%#v", i, g, w)
		}
	}
	// The agent allows the mirrors of the repos the commands make
	// local-first, so that they work once subscription-manager wrote them.
	if got, want := AllowedMirrors([]File{{Result: r}}), []string{"https://" + sat + "content/dist/rhel9/", epel}; !slices.Equal(got, want) {
		t.Errorf("AllowedMirrors = %q, want %q", got, want)
	}
}

// TestOwner: a file is subscription-manager's by its name (redhat.repo)
// or by the header line it writes (old and new wording), before the first
// section only; a metalink repo there gets a hint with repo-override.
func TestOwner(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"redhat.repo":   "[a]\nbaseurl=http://m/a/\n",
		"rhsm.repo":     "#\n# Certificate-Based Repositories\n# Managed by (rhsm) subscription-manager\n#\n# *** This file is auto-generated.  Changes made here will be overwritten. ***\n[b]\nbaseurl=http://m/b/\n",
		"bom.repo":      "\ufeff; Managed by (rhsm) subscription-manager\n[c]\nmetalink=https://mirrors.example.org/metalink?repo=c\n",
		"mentions.repo": "[d]\n# Managed by (rhsm) subscription-manager\nbaseurl=http://m/d/\n",
	}
	for n, src := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := RewriteDir(dir, base, 1)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, f := range fs {
		if f.Err != nil {
			t.Fatal(f.Err)
		}
		owners[filepath.Base(f.Name)] = f.Result.Owner
		if f.Result.Owner != "" && f.Result.Changed() {
			t.Errorf("%s: subscription-manager's, but changed", f.Name)
		}
	}
	sm := "subscription-manager"
	if want := map[string]string{"bom.repo": sm, "mentions.repo": "", "redhat.repo": sm, "rhsm.repo": sm}; !maps.Equal(owners, want) {
		t.Errorf("owners %q, want %q", owners, want)
	}
	h := fs[0].Result.Repos[0].Hint
	if !strings.Contains(h, "(subscription-manager repo-override --repo=c --add=baseurl:http://MIRROR/PATH/)") {
		t.Errorf("bom.repo: hint %q, want one with repo-override", h)
	}
}

// TestShellQuote: what shellQuote makes of a string, a POSIX shell reads
// back as that string, one word.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "a b", "$releasever", "it's", "''", "", "a\tb\nc", "--add=baseurl:http://x/ http://y/", `\"*?[`} {
		q := shellQuote(s)
		out, err := exec.Command("sh", "-c", `printf '%s\0' `+q).Output()
		if err != nil || string(out) != s+"\x00" {
			t.Errorf("shellQuote(%q) = %s: sh reads %q (%v)", s, q, out, err)
		}
	}
	if q := shellQuote("rhel-9-for-x86_64-baseos-rpms"); q != "rhel-9-for-x86_64-baseos-rpms" {
		t.Errorf("a repo id is quoted: %s", q)
	}
}
