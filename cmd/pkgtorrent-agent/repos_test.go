package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// The fixtures of internal/repos: realistic repo files (testdata/in) and
// the same, rewritten by hand (testdata/want).
const fixtures = "internal/repos/testdata"

// copyFixtures copies the *.repo files of fixtures/sub into dir, and
// returns their names.
func copyFixtures(t *testing.T, sub, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fixtures, sub, "*.repo"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in %s/%s", fixtures, sub)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = filepath.Base(n)
		if err := os.WriteFile(filepath.Join(dir, names[i]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

type result struct {
	code           int
	stdout, stderr string
}

func runIn(t *testing.T, dir, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

func sameFiles(t *testing.T, dir, sub string, names []string) {
	t.Helper()
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(fixtures, sub, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant (%s):\n%s", n, got, sub, want)
		}
	}
}

// TestReposCommand runs the built binary on a folder of repo files: the
// diff (which patch applies), then -w (files as written by hand, modes
// kept, a symbolic link written through), then -w again (no change).
func TestReposCommand(t *testing.T) {
	bin := agentBinary(t)
	work := t.TempDir()
	names := copyFixtures(t, "in", filepath.Join(work, "yum.repos.d"))
	if err := os.Chmod(filepath.Join(work, "yum.repos.d", "rocky.repo"), 0o600); err != nil {
		t.Fatal(err)
	}
	// With a file that cannot be read, the others are still done, and
	// the status is 1.
	if err := os.Symlink("nowhere", filepath.Join(work, "yum.repos.d", "broken.repo")); err != nil {
		t.Fatal(err)
	}
	args := []string{"repos", "-config", "", "-d", "yum.repos.d"}

	r := runIn(t, work, bin, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "broken.repo") {
		t.Errorf("with broken.repo: status %d, stderr %q; want 1, naming it", r.code, r.stderr)
	}
	os.Remove(filepath.Join(work, "yum.repos.d", "broken.repo"))

	r = runIn(t, work, bin, args...)
	if r.code != 0 {
		t.Fatalf("diff: status %d, stderr:\n%s", r.code, r.stderr)
	}
	sameFiles(t, filepath.Join(work, "yum.repos.d"), "in", names)
	for _, n := range []string{"almalinux.repo", "credentials.repo", "local.repo", "rocky.repo"} {
		if !strings.Contains(r.stdout, "--- yum.repos.d/"+n+"\n+++ yum.repos.d/"+n+"\n") {
			t.Errorf("the diff has no header for %s:\n%s", n, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "fedora.repo") || strings.Count(r.stderr, "fedora.repo: [fedora") != 3 ||
		strings.Contains(r.stdout, "redhat.repo") || !strings.Contains(r.stderr, "4 of 6 .repo files in yum.repos.d would change") {
		t.Errorf("stderr:\n%s\nwant 3 hint lines for fedora.repo and 4 of 6 files to change, not redhat.repo", r.stderr)
	}
	patch := exec.Command(need(t, "patch"), "-p0", "--dry-run", "--batch")
	patch.Dir, patch.Stdin = work, strings.NewReader(r.stdout)
	if out, err := patch.CombinedOutput(); err != nil {
		t.Errorf("patch -p0 --dry-run: %v\n%s", err, out)
	}

	// A repo file that is a symbolic link to a file elsewhere (patch
	// refuses those, -w writes through them).
	copyFixtures(t, "in", filepath.Join(work, "shared"))
	if err := os.Symlink("../shared/almalinux.repo", filepath.Join(work, "yum.repos.d", "linked.repo")); err != nil {
		t.Fatal(err)
	}
	r = runIn(t, work, bin, append(args, "-w")...)
	if r.code != 0 {
		t.Fatalf("-w: status %d, stderr:\n%s", r.code, r.stderr)
	}
	sameFiles(t, filepath.Join(work, "yum.repos.d"), "want", names)
	sameFiles(t, filepath.Join(work, "shared"), "want", []string{"almalinux.repo"})
	sameFiles(t, filepath.Join(work, "shared"), "in", []string{"rocky.repo"})
	wrote := strings.Fields(strings.ReplaceAll(r.stdout, "wrote ", ""))
	if want := []string{"yum.repos.d/almalinux.repo", "yum.repos.d/credentials.repo", "yum.repos.d/linked.repo", "yum.repos.d/local.repo",
		"yum.repos.d/rocky.repo"}; !slices.Equal(wrote, want) {
		t.Errorf("-w stdout %q, want wrote lines for %q", r.stdout, want)
	}
	if fi, err := os.Stat(filepath.Join(work, "yum.repos.d", "rocky.repo")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("rocky.repo mode %v (%v), want 0600 kept", fi.Mode(), err)
	}
	if fi, err := os.Lstat(filepath.Join(work, "yum.repos.d", "linked.repo")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("linked.repo is no longer a symbolic link (%v)", err)
	}
	for _, d := range []string{"yum.repos.d", "shared"} {
		left, _ := filepath.Glob(filepath.Join(work, d, ".*"))
		if len(left) > 0 {
			t.Errorf("temporary files left: %q", left)
		}
	}

	r = runIn(t, work, bin, append(args, "-w")...)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("second -w: status %d, stdout %q, stderr %q; want 0, nothing written", r.code, r.stdout, r.stderr)
	}
	sameFiles(t, filepath.Join(work, "yum.repos.d"), "want", names)
}

// TestReposCredentialsAndSubscriptionManager runs the built binary on
// credentials.repo and subscription-manager's redhat.repo: standard error
// is, line for line, a note on each repo with a password (whose agent
// URLs come out), on each with a client certificate (made local-first:
// the agent presents it), and on each repo of redhat.repo, with the
// subscription-manager commands (those with the entitlement certificate
// get theirs too); -w writes credentials.repo and leaves
// redhat.repo byte for byte. The printed commands, run by sh, give
// subscription-manager the arguments that its --add parsing (split at
// the first colon) turns into the baseurl the repo gets, and dnf reads
// that value, as subscription-manager writes it, as the agent's URL and
// the mirror's.
func TestReposCredentialsAndSubscriptionManager(t *testing.T) {
	bin := agentBinary(t)
	work := t.TempDir()
	dir := filepath.Join(work, "yum.repos.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"credentials.repo", "redhat.repo"}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(fixtures, "in", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const (
		c      = "yum.repos.d/credentials.repo: "
		rh     = "yum.repos.d/redhat.repo: "
		pw     = " kept on its own mirror without the agent: it has username, password (dnf would send the agent the password in clear text)"
		cert   = " has a client certificate (sslclientcert, sslclientkey): the agent presents it to the mirror, and must be able to read it (pkgtorrent-agent(8), CLIENT CERTIFICATES)"
		out    = "; the agent's URLs are taken out of its baseurl"
		epel   = "http://satellite.example.com/pulp/content/Example_Org/Library/custom/EPEL/EPEL_9_x86_64/"
		rhel   = "https://satellite.example.com/pulp/content/Example_Org/Library/content/dist/rhel9/"
		baseos = rhel + "$releasever/x86_64/baseos/os"
		source = rhel + "$releasever/x86_64/baseos/source/SRPMS"
		local  = "] is in a file subscription-manager writes: make it local-first with: "
		add    = "subscription-manager repo-override --repo=Example_Org_EPEL_EPEL_9_x86_64 --add=baseurl:'" +
			"http://127.0.0.1:7881/m/http/satellite.example.com/pulp/content/Example_Org/Library/custom/EPEL/EPEL_9_x86_64/ " + epel + "'"
	)
	addRHEL := func(id, mirror string) string {
		return "subscription-manager repo-override --repo=" + id + " --add=baseurl:'http://127.0.0.1:7881/m/https/" +
			strings.TrimPrefix(mirror, "https://") + " " + mirror + "'"
	}
	notes := []string{
		c + "[corp]" + pw,
		c + "[corp-extras]" + pw + out,
		c + "[partner]" + cert,
		rh + "subscription-manager writes this file and overwrites changes made to it: left as it is, even with -w",
		rh + "[rhel-9-for-x86_64-baseos-rpms" + local + addRHEL("rhel-9-for-x86_64-baseos-rpms", baseos),
		rh + "[rhel-9-for-x86_64-baseos-rpms]" + cert,
		rh + "[rhel-9-for-x86_64-appstream-rpms]" + cert,
		rh + "[rhel-9-for-x86_64-baseos-source-rpms" + local + addRHEL("rhel-9-for-x86_64-baseos-source-rpms", source),
		rh + "[rhel-9-for-x86_64-baseos-source-rpms]" + cert,
		rh + "[Example_Org_EPEL_EPEL_9_x86_64" + local + add,
	}
	allow := `the agent's repos-dir is "/etc/yum.repos.d", not yum.repos.d: allow these mirrors with allow lines in its settings file: ` +
		"https://partner.example.net/rpms/el9/ https://partner-mirror.example.net/rpms/el9/ http://mirror.example.org/yum/el9/ " + rhel + " " + epel
	args := []string{"repos", "-config", "", "-d", "yum.repos.d"}
	for _, c := range []struct {
		w      bool
		stdout string
		last   string
	}{
		{false, "--- yum.repos.d/credentials.repo\n+++ yum.repos.d/credentials.repo\n", "1 of 2 .repo files in yum.repos.d would change: run with -w to write them"},
		{true, "wrote yum.repos.d/credentials.repo\n", ""},
	} {
		a := args
		if c.w {
			a = append(a, "-w")
		}
		r := runIn(t, work, bin, a...)
		want := slices.Clone(notes)
		if c.last != "" {
			want = append(want, c.last)
		}
		want = append(want, allow)
		if got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); r.code != 0 || !slices.Equal(got, want) {
			t.Errorf("%q: status %d, stderr:\n%s\nwant:\n%s", a, r.code, r.stderr, strings.Join(want, "\n"))
		}
		if !strings.HasPrefix(r.stdout, c.stdout) || strings.Contains(r.stdout, "redhat.repo") {
			t.Errorf("%q: stdout:\n%s\nwant it to start with %q, without redhat.repo", a, r.stdout, c.stdout)
		}
		sameFiles(t, dir, "in", []string{"redhat.repo"})
	}
	sameFiles(t, dir, "want", names)

	// The commands, as a shell runs them, and what subscription-manager
	// makes of them.
	fake := filepath.Join(work, "bin")
	if err := os.Mkdir(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "subscription-manager"), []byte("#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$ARGS\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	argv := func(cmd string) []string {
		t.Helper()
		sh := exec.Command("sh", "-c", cmd)
		f := filepath.Join(work, "args")
		sh.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"), "ARGS="+f)
		if b, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("sh -c %q: %v\n%s", cmd, err, b)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	}
	// The entitlement repo's command keeps $releasever from the shell.
	if got := argv(addRHEL("rhel-9-for-x86_64-baseos-rpms", baseos)); len(got) != 3 || !strings.HasSuffix(got[2], " "+baseos) {
		t.Errorf("the baseos command's arguments %q, want the baseurl to end with %s", got, baseos)
	}
	got := argv(add)
	if len(got) != 3 || got[0] != "repo-override" || got[1] != "--repo=Example_Org_EPEL_EPEL_9_x86_64" || !strings.HasPrefix(got[2], "--add=") {
		t.Fatalf("%s: arguments %q", add, got)
	}
	// subscription-manager's OverrideCommand._additions_colon_split:
	// k, _colon, v = value.partition(":").
	name, value, _ := strings.Cut(strings.TrimPrefix(got[2], "--add="), ":")
	if name != "baseurl" {
		t.Fatalf("%s: override %q, want baseurl", add, name)
	}
	// subscription-manager writes the override into redhat.repo as
	// "baseurl = VALUE" (iniparse's RawConfigParser); dnf reads the list.
	reposd := filepath.Join(work, "reposd")
	if err := os.Mkdir(reposd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(reposd, "redhat.repo"), []byte("[Example_Org_EPEL_EPEL_9_x86_64]\nname = EPEL 9 x86_64\nbaseurl = "+value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	need(t, "dnf")
	if got, want := dnfBaseurls(t, reposd)["Example_Org_EPEL_EPEL_9_x86_64"], []string{
		"http://127.0.0.1:7881/m/http/satellite.example.com/pulp/content/Example_Org/Library/custom/EPEL/EPEL_9_x86_64/", epel,
	}; !slices.Equal(got, want) {
		t.Errorf("dnf reads the override's baseurl as %q, want %q", got, want)
	}
	// And repos then finds the repo local-first: no command for it.
	if err := os.WriteFile(filepath.Join(dir, "redhat.repo"), []byte("# Managed by (rhsm) subscription-manager\n"+
		"[Example_Org_EPEL_EPEL_9_x86_64]\nbaseurl = "+value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runIn(t, work, bin, args...); r.code != 0 || strings.Contains(r.stderr, "repo-override") {
		t.Errorf("after the override: status %d, stderr:\n%s\nwant no command", r.code, r.stderr)
	}
}

// TestReposCommandLine: -h, a settings file's listen and repos-dir, and
// wrong arguments.
func TestReposCommandLine(t *testing.T) {
	bin := agentBinary(t)
	work := t.TempDir()
	dir := filepath.Join(work, "yum.repos.d")
	copyFixtures(t, "in", dir)

	r := runIn(t, work, bin, "repos", "-h")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "Usage: pkgtorrent-agent repos [-w]") || !strings.Contains(r.stderr, "-listen") {
		t.Errorf("-h: status %d, stderr %q", r.code, r.stderr)
	}
	conf := filepath.Join(work, "agent.conf")
	if err := os.WriteFile(conf, []byte("listen = [::1]:7999\nrepos-dir = "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runIn(t, work, bin, "repos", "-config", conf)
	if r.code != 0 || !strings.Contains(r.stdout, "+baseurl=http://[::1]:7999/m/http/mirror.example.org/$contentdir/") ||
		!strings.Contains(r.stderr, "the agent allows these mirrors, as it reads the baseurl lines of "+dir+": ") ||
		!strings.Contains(r.stderr, " http://mirror.example.org/ ") {
		t.Errorf("-config: status %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"repos", "-config", "", "-d", dir, "-listen", "10.0.0.5:7881"}, 2},
		{[]string{"repos", "-config", "", "-d", dir, "extra"}, 2},
		{[]string{"repos", "-config", filepath.Join(work, "missing.conf"), "-d", dir}, 2},
		{[]string{"repos", "-config", "", "-d", filepath.Join(work, "missing")}, 1},
	} {
		if r := runIn(t, work, bin, c.args...); r.code != c.code || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 && c.code == 1 {
			t.Errorf("%q: status %d, stderr %q; want %d", c.args, r.code, r.stderr, c.code)
		}
	}
}

// TestReposDnf: the real dnf reads the rewritten files: dnf repolist lists
// the same repos, and dnf's own parse of each baseurl gives the old URLs
// with the agent's in front of them.
func TestReposDnf(t *testing.T) {
	need(t, "dnf")
	bin := agentBinary(t)
	work := t.TempDir()
	dir := filepath.Join(work, "reposd")
	copyFixtures(t, "in", dir)
	for _, d := range []string{"root", "cache", "plugins"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	repolist := func() []string {
		out, err := dnfCmd(work, "repolist", "--all", "-q").CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("failed")) || bytes.Contains(out, []byte("Error")) {
			t.Fatalf("dnf repolist: %v\n%s", err, out)
		}
		var ids []string
		for _, l := range strings.Split(string(out), "\n")[1:] {
			if f := strings.Fields(l); len(f) > 0 {
				ids = append(ids, f[0])
			}
		}
		return ids
	}
	idsBefore, before := repolist(), dnfBaseurls(t, dir)
	if len(idsBefore) != 22 {
		t.Fatalf("dnf lists %d repos before, want the fixtures' 22: %q", len(idsBefore), idsBefore)
	}
	if r := runIn(t, work, bin, "repos", "-config", "", "-d", dir, "-w"); r.code != 0 {
		t.Fatalf("repos -w: status %d\n%s", r.code, r.stderr)
	}
	if ids := repolist(); !slices.Equal(ids, idsBefore) {
		t.Errorf("dnf repolist after: %q, before: %q", ids, idsBefore)
	}
	after := dnfBaseurls(t, dir)
	const a = "http://127.0.0.1:7881/m/"
	// The repos with a password (credentials.repo) and those of
	// subscription-manager's redhat.repo get no agent URL; one loses
	// its. [partner], with a client certificate, gets them.
	kept := []string{"corp", "corp-extras", "rhel-9-for-x86_64-baseos-rpms", "rhel-9-for-x86_64-appstream-rpms",
		"rhel-9-for-x86_64-baseos-source-rpms", "Example_Org_EPEL_EPEL_9_x86_64"}
	for id, old := range before {
		if slices.Contains(kept, id) {
			if id == "corp-extras" {
				continue
			}
			if !slices.Equal(after[id], old) {
				t.Errorf("[%s]: dnf reads %q after, %q before", id, after[id], old)
			}
			continue
		}
		var agents []string
		rest := slices.DeleteFunc(slices.Clone(after[id]), func(u string) bool {
			if strings.HasPrefix(u, a) && !slices.Contains(old, u) {
				agents = append(agents, u)
				return true
			}
			return false
		})
		if !slices.Equal(rest, old) {
			t.Errorf("[%s]: dnf reads %q after, %q before", id, after[id], old)
		}
		// Every http and https mirror the agent can fetch has its agent URL
		// before it (but for [partly]'s MIRROR.example.org:80, which its
		// localhost agent URL covers, and [private]'s, which the agent
		// does not fetch).
		for i, u := range after[id] {
			if (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && !strings.Contains(u, "/m/http") &&
				!strings.ContainsAny(u, "@?") && !strings.Contains(strings.ToLower(u), "mirror.example.org:80") {
				au := a + strings.Replace(u, "://", "/", 1)
				if j := slices.Index(after[id], au); j < 0 || j > i {
					t.Errorf("[%s]: %s has no agent URL before it in %q", id, u, after[id])
				}
			}
		}
	}
	// dnf fills in $releasever and $basearch (not $contentdir, which
	// only Rocky's dnf knows).
	want := map[string][]string{
		"appstream": {
			a + "http/mirror.example.org/$contentdir/9/AppStream/x86_64/os/",
			a + "https/Mirror2.example.org:8443/rocky/9/AppStream/x86_64/os/",
			"http://mirror.example.org/$contentdir/9/AppStream/x86_64/os/",
			"https://Mirror2.example.org:8443/rocky/9/AppStream/x86_64/os/",
		},
		"mixed": {
			"file:///srv/repo/el9/",
			a + "http/mirror.example.org/yum/el9/x86_64/",
			"http://mirror.example.org/yum/el9/x86_64/",
			"ftp://ftp.example.org/pub/el9/",
		},
		"fedora":      nil,
		"corp-extras": {"https://repo.corp.example.com/el9-extras/x86_64/"},
		"partner": {a + "https/partner.example.net/rpms/el9/", a + "https/partner-mirror.example.net/rpms/el9/",
			"https://partner.example.net/rpms/el9/", "https://partner-mirror.example.net/rpms/el9/"},
	}
	for id, w := range want {
		if !slices.Equal(after[id], w) {
			t.Errorf("[%s]: dnf reads %q, want %q", id, after[id], w)
		}
	}
}

// dnfCmd is dnf with its root, cache, plugins and repo files in work.
func dnfCmd(work string, args ...string) *exec.Cmd {
	// A dnf.conf of the test's own: config-manager --save writes the
	// options of the command line into it, which would otherwise be the
	// machine's /etc/dnf/dnf.conf.
	conf := filepath.Join(work, "dnf.conf")
	if _, err := os.Stat(conf); err != nil {
		os.WriteFile(conf, []byte("[main]\n"), 0o644)
	}
	return exec.Command("dnf", append([]string{"--config=" + conf, "--installroot=" + filepath.Join(work, "root"), "--releasever=9",
		"--setopt=reposdir=" + filepath.Join(work, "reposd"), "--setopt=cachedir=" + filepath.Join(work, "cache"),
		"--setopt=pluginpath=" + filepath.Join(work, "plugins")}, args...)...)
}

// TestReposMetalinkHint: the command the hint for a metalink repo gives,
// run with the real dnf config-manager, makes a repo that repos then puts
// the agent in front of, and dnf reads it so.
func TestReposMetalinkHint(t *testing.T) {
	need(t, "dnf")
	plugin := "/usr/lib/python3/dist-packages/dnf-plugins/config_manager.py"
	if _, err := os.Stat(plugin); err != nil {
		t.Fatalf("dnf config-manager is missing: install the Debian package dnf-plugins-core (`make deps` installs it)")
	}
	bin := agentBinary(t)
	work := t.TempDir()
	copyFixtures(t, "in", filepath.Join(work, "reposd"))
	for _, d := range []string{"root", "cache", "plugins"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "plugins", "config_manager.py"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, work, bin, "repos", "-config", "", "-d", "reposd", "-w")
	_, hint, ok := strings.Cut(r.stderr, "fedora.repo: [fedora] uses metalink=")
	hint, _, _ = strings.Cut(hint, "\n")
	_, cmdline, ok2 := strings.Cut(hint, "(dnf config-manager ")
	cmdline, _, _ = strings.Cut(cmdline, ";")
	if r.code != 0 || !ok || !ok2 {
		t.Fatalf("status %d, no hint with a dnf config-manager command for [fedora]:\n%s", r.code, r.stderr)
	}
	mirror := "http://mirror.example.org/pub/fedora/linux/releases/$releasever/Everything/$basearch/os/"
	args := strings.Fields(strings.Replace(cmdline, "http://MIRROR/PATH/", mirror, 1))
	if out, err := dnfCmd(work, append([]string{"config-manager"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("dnf config-manager %q: %v\n%s", args, err, out)
	}
	if r := runIn(t, work, bin, "repos", "-config", "", "-d", "reposd", "-w"); r.code != 0 || r.stdout != "wrote reposd/fedora.repo\n" {
		t.Fatalf("repos -w after config-manager: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		"http://127.0.0.1:7881/m/http/mirror.example.org/pub/fedora/linux/releases/9/Everything/x86_64/os/",
		"http://mirror.example.org/pub/fedora/linux/releases/9/Everything/x86_64/os/",
	}
	if got := dnfBaseurls(t, filepath.Join(work, "reposd"))["fedora"]; !slices.Equal(got, want) {
		t.Errorf("dnf reads [fedora] baseurl %q, want %q", got, want)
	}
}

// dnfBaseurls is each repo's baseurl list in the repo files of dir, as
// dnf reads them through its Python API (the one its commands use), with
// $releasever 9 and $basearch x86_64.
func dnfBaseurls(t *testing.T, dir string) map[string][]string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", `
import dnf, json, sys
b = dnf.Base()
b.conf.releasever = "9"
b.conf.substitutions["basearch"] = "x86_64"
b.conf.reposdir = [sys.argv[1]]
b.read_all_repos()
print(json.dumps({r.id: list(r.baseurl) for r in b.repos.values()}))
`, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("python3 dnf: %v\n%s", err, stderr.Bytes())
	}
	m := map[string][]string{}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return m
}

// TestDeployExamples: the Ansible example passes ansible-playbook's syntax
// check, the kickstart's %post is valid shell, and the pkgtorrent-agent
// commands in both run.
func TestDeployExamples(t *testing.T) {
	bin := agentBinary(t)
	yml, ks := deployDir+"pkgtorrent-agent-ansible.yml", deployDir+"pkgtorrent-agent-kickstart.cfg"
	if out, err := exec.Command(need(t, "ansible-playbook"), "--syntax-check", "-i", "localhost,", yml).CombinedOutput(); err != nil {
		t.Errorf("ansible-playbook --syntax-check: %v\n%s", err, out)
	}
	kb, err := os.ReadFile(ks)
	if err != nil {
		t.Fatal(err)
	}
	_, post, ok := strings.Cut(string(kb), "\n%post")
	post, _, ok2 := strings.Cut(post, "\n%end")
	_, post, _ = strings.Cut(post, "\n")
	if !ok || !ok2 {
		t.Fatalf("%s has no %%post ... %%end", ks)
	}
	if out, err := exec.Command("bash", "-n", "-c", post).CombinedOutput(); err != nil {
		t.Errorf("%%post: bash -n: %v\n%s", err, out)
	}
	yb, err := os.ReadFile(yml)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(post+"\n"+string(yb), "\n") {
		_, c, ok := strings.Cut(l, "pkgtorrent-agent repos")
		if !ok || strings.Contains(l, "#") {
			continue
		}
		n++
		work := t.TempDir()
		copyFixtures(t, "in", filepath.Join(work, "r"))
		args := append([]string{"repos"}, strings.Fields(c)...)
		if r := runIn(t, work, bin, append(args, "-config", "", "-d", "r")...); r.code != 0 || !strings.Contains(r.stdout, "wrote r/rocky.repo") {
			t.Errorf("%q: status %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if n != 2 {
		t.Errorf("%d pkgtorrent-agent repos commands in the examples, want 2", n)
	}
}

// TestReposAgentDnf: the whole chain with real programs. repos -w rewrites
// a repo file, the real agent reads the same folder as its repos-dir (no
// allow setting), and dnf makecache fetches the repo's metadata through the
// agent: the agent allowed the mirror it found there.
func TestReposAgentDnf(t *testing.T) {
	need(t, "dnf")
	need(t, "createrepo_c")
	bin := agentBinary(t)
	work := t.TempDir()
	for _, d := range []string{"root", "cache", "plugins", "reposd", "store", "mirror/yum/el9/x86_64"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("createrepo_c", filepath.Join(work, "mirror/yum/el9/x86_64")).CombinedOutput(); err != nil {
		t.Fatalf("createrepo_c: %v\n%s", err, out)
	}
	var mu sync.Mutex
	var paths []string
	files := http.FileServer(http.Dir(filepath.Join(work, "mirror")))
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer mirror.Close()
	repo := "# The fleet's mirror.\n[el9]\nname=el9\nbaseurl=" + mirror.URL + "/yum/el9/$basearch/\ngpgcheck=0\n"
	if err := os.WriteFile(filepath.Join(work, "reposd", "el9.repo"), []byte(repo), 0o644); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	if r := runIn(t, work, bin, "repos", "-config", "", "-d", "reposd", "-listen", listen, "-w"); r.code != 0 || r.stdout != "wrote reposd/el9.repo\n" {
		t.Fatalf("repos -w: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}

	var agentLog bytes.Buffer
	agent := exec.Command(bin, "-listen", listen, "-peer-port", "0", "-store", filepath.Join(work, "store"),
		"-repos-dir", filepath.Join(work, "reposd"))
	agent.Stderr = &syncBuffer{b: &agentLog}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	}()
	status := func() (passthrough int64, err error) {
		resp, err := http.Get("http://" + listen + "/status")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var s struct {
			Totals struct {
				Passthrough int64 `json:"passthrough"`
			} `json:"totals"`
		}
		return s.Totals.Passthrough, json.NewDecoder(resp.Body).Decode(&s)
	}
	for i := 0; ; i++ {
		if _, err := status(); err == nil {
			break
		} else if i == 100 {
			t.Fatalf("the agent does not answer on %s: %v", listen, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if out, err := dnfCmd(work, "makecache", "--setopt=skip_if_unavailable=0").CombinedOutput(); err != nil {
		t.Fatalf("dnf makecache: %v\n%s", err, out)
	}
	repomd, err := os.ReadFile(filepath.Join(work, "mirror/yum/el9/x86_64/repodata/repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n, err := status(); err != nil || n < int64(len(repomd)) {
		t.Errorf("the agent passed %d bytes through (%v), want at least repomd.xml's %d; the mirror saw %q", n, err, len(repomd), paths)
	}
	if !slices.Contains(paths, "/yum/el9/x86_64/repodata/repomd.xml") {
		t.Errorf("the mirror saw %q, not repomd.xml", paths)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// TestReposManPage: pkgtorrent-agent(8) documents repos, with every flag
// its -h lists, in its SYNOPSIS and SUBCOMMANDS.
func TestReposManPage(t *testing.T) {
	page := renderMan(t, manAgent)
	var usage bytes.Buffer
	if code := runRepos([]string{"-h"}, io.Discard, &usage); code != 0 {
		t.Fatalf("repos -h: status %d", code)
	}
	flags := regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(usage.String(), -1)
	if len(flags) != 5 {
		t.Fatalf("repos -h lists %d flags, want 5:\n%s", len(flags), usage.String())
	}
	synopsis, sub := section(page, "SYNOPSIS"), section(page, "SUBCOMMANDS")
	loc := regexp.MustCompile(`(?m)^       repos\s`).FindStringIndex(sub)
	if !strings.Contains(synopsis, "pkgtorrent-agent repos [-w]") || loc == nil {
		t.Fatalf("pkgtorrent-agent(8) has no repos in SYNOPSIS and SUBCOMMANDS")
	}
	sub = sub[loc[0]:]
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^ +`+regexp.QuoteMeta(f[1])+`\b`).MatchString(sub) || !strings.Contains(synopsis, "["+f[1]) {
			t.Errorf("pkgtorrent-agent(8) does not document repos %s", f[1])
		}
	}
}

// TestReposLanes: repos reads max_parallel_downloads from -dnf-conf and
// writes that many lanes per mirror (ceil(n/3)); a bad value is a usage
// error that names it.
func TestReposLanes(t *testing.T) {
	dir := t.TempDir()
	e2e.WriteFile(t, filepath.Join(dir, "a.repo"), "[a]\nname=a\nbaseurl=http://m.example.org/el9/\n")
	conf := filepath.Join(t.TempDir(), "dnf.conf")
	e2e.WriteFile(t, conf, "[main]\nmax_parallel_downloads=10\n")
	var out, errs bytes.Buffer
	if code := runRepos([]string{"-config", "", "-d", dir, "-dnf-conf", conf}, &out, &errs); code != 0 {
		t.Fatalf("repos: status %d, stderr %s", code, errs.String())
	}
	for n := 2; n <= 4; n++ {
		if u := fmt.Sprintf("http://127.0.0.1:7881/m%d/http/m.example.org/el9/", n); !strings.Contains(out.String(), "+        "+u+"\n") {
			t.Errorf("diff lacks lane %d (%s):\n%s", n, u, out.String())
		}
	}
	if strings.Contains(out.String(), "/m5/") {
		t.Errorf("diff has a fifth lane for 10 parallel downloads:\n%s", out.String())
	}
	e2e.WriteFile(t, conf, "[main]\nmax_parallel_downloads=many\n")
	errs.Reset()
	if code := runRepos([]string{"-config", "", "-d", dir, "-dnf-conf", conf}, io.Discard, &errs); code != exitUsage || !strings.Contains(errs.String(), "max_parallel_downloads \"many\"") {
		t.Errorf("bad max_parallel_downloads: status %d, stderr %q; want %d and the value named", code, errs.String(), exitUsage)
	}
}

// TestReposProxyNote: repos names, on one line, the repos with agent
// URLs that dnf reaches through a proxy (their own proxy=, or that of
// dnf.conf's [main] when they set none; not _none_ or empty), and what
// makes dnf reach the agent directly; no line when there is none.
func TestReposProxyNote(t *testing.T) {
	work := t.TempDir()
	dir := filepath.Join(work, "yum.repos.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e2e.WriteFile(t, filepath.Join(dir, "a.repo"), "[plain]\nbaseurl=http://m.example.org/a/\n"+
		"[own]\nbaseurl=http://n.example.org/b/\nproxy=http://p2.example.org:3128\n"+
		"[direct]\nbaseurl=http://o.example.org/c/\nproxy=_none_\n"+
		"[empty]\nbaseurl=http://o.example.org/d/\nproxy=\n"+
		"[creds]\nbaseurl=http://q.example.org/\nusername=u\npassword=p\n"+
		"[local]\nbaseurl=file:///srv/repo/\n")
	dnfConf := filepath.Join(work, "dnf.conf")
	conf := filepath.Join(work, "agent.conf")
	e2e.WriteFile(t, conf, "dnf-conf = "+dnfConf+"\n")
	for _, c := range []struct {
		dnfConf string // "" for none
		want    string // the repos named, "" for no line
	}{
		{"[main]\ngpgcheck=1\nproxy=http://proxy.example.org:3128\nproxy_username=u\n", "plain own"},
		{"[main]\ngpgcheck=1\n", "own"},
		{"", "own"},
	} {
		os.Remove(dnfConf)
		if c.dnfConf != "" {
			e2e.WriteFile(t, dnfConf, c.dnfConf)
		}
		var stdout, stderr strings.Builder
		if code := runRepos([]string{"-config", conf, "-d", dir}, &stdout, &stderr); code != 0 {
			t.Fatalf("status %d, stderr:\n%s", code, stderr.String())
		}
		var line string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(l, "dnf reaches these repos through a proxy") {
				line = l
			}
		}
		_, got, _ := strings.Cut(line, "pkgtorrent-agent(8)): ")
		if got != c.want || (line != "" && !strings.Contains(line, "no_proxy=127.0.0.1 ")) {
			t.Errorf("dnf.conf %q: the proxy line is %q, want one naming %q and no_proxy=127.0.0.1", c.dnfConf, line, c.want)
		}
	}
}
