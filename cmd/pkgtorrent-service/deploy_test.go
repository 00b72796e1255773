package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
)

const (
	manService = "../../deploy/man/pkgtorrent-service.8"
	manConf    = "../../deploy/man/pkgtorrent-service.conf.5"
	manWidth   = 80
)

// renderMan formats a manual page as man -l does, failing on any warning
// of groff or man, and returns the text.
func renderMan(t *testing.T, page string) string {
	t.Helper()
	// groff's own check: every warning (-ww), no output.
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z", page)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("groff -man -ww %s: %v\n%s", page, err, stderr.String())
		}
	}
	if _, err := exec.LookPath("man"); err != nil {
		t.Fatalf("man is not installed (make deps installs man-db): %v", err)
	}
	cmd := exec.Command("man", "--warnings=w", "-E", "UTF-8", "-l", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "MAN_KEEP_FORMATTING=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l %s: %v\n%s", page, err, stderr.String())
	}
	// Without a terminal man may still embolden with backspaces.
	text := regexp.MustCompile(".\b").ReplaceAllString(stdout.String(), "")
	for i, line := range strings.Split(text, "\n") {
		if n := len([]rune(line)); n > manWidth {
			t.Errorf("%s line %d is %d columns wide, over %d: %q", page, i+1, n, manWidth, line)
		}
	}
	return text
}

// flagNames returns the flags that a -h text lists.
func flagNames(t *testing.T, args ...string) []string {
	t.Helper()
	_, help, code := runBinary(t, args...)
	if code != 0 {
		t.Fatalf("%q: exit %d", args, code)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("%q lists no flags:\n%s", args, help)
	}
	return names
}

func TestManPages(t *testing.T) {
	service := renderMan(t, manService)
	conf := renderMan(t, manConf)

	// Every flag of the service and of each subcommand, as -h lists it,
	// is in pkgtorrent-service(8).
	for _, args := range [][]string{{"-h"}, {"warm", "-h"}, {"gc", "-h"}, {"inspect", "-h"}} {
		for _, name := range flagNames(t, args...) {
			if !strings.Contains(service, "-"+name+" ") && !strings.Contains(service, "-"+name+"\n") && !strings.Contains(service, "-"+name+",") {
				t.Errorf("pkgtorrent-service(8) does not document %s's flag -%s", strings.Join(args[:len(args)-1], " "), name)
			}
		}
	}
	// Every setting has its paragraph in pkgtorrent-service.conf(5).
	for _, name := range config.Names() {
		if name == "config" {
			continue
		}
		if !regexp.MustCompile(`(?m)^       ` + regexp.QuoteMeta(name) + ` = \S+\n`).MatchString(conf) {
			t.Errorf("pkgtorrent-service.conf(5) has no paragraph %q", name+" = ...")
		}
	}
	for _, want := range []string{
		// Endpoints.
		"GET mount/digest/sha1", "POST mount/digest/sha1", "GET mount/single/path-or-glob", "(alias simple/)", "GET mount/nullfile/size_n",
		// Subcommands.
		"   warm [-j n] [settings] pattern...", "   gc [-max-age duration] [-dry-run] [-v] [settings]", "   inspect [-verify root] file.torrent|url", "   version\n",
		// Signals, environment and files.
		"SIGTERM, SIGINT", "DOCUMENT_ROOT", "GATEWAY_INTERFACE", "LISTEN_FDS", "HTTPS, SERVER_PORT, SERVER_NAME",
		"/etc/pkgtorrent-service.conf", "/var/lib/torrent_service/trackers", "/var/cache/torrent_service/pieces/path/piece-length",
		"/var/cache/torrent_service/info/digest", "pkgtorrent-service-gc.timer", "/etc/cron.d/pkgtorrent-service-gc",
		"EXIT STATUS",
	} {
		if !strings.Contains(service, want) {
			t.Errorf("pkgtorrent-service(8) lacks %q", want)
		}
	}
}

// unitValue returns the value of key in a unit file.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + key + `=(.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no %s=", unit, key)
	}
	return string(m[1])
}

// runDeployed runs a command line from a deploy/ file with this build of
// the binary and a configuration for a sample mirror in place of the
// installed ones.
func runDeployed(t *testing.T, line string) string {
	t.Helper()
	root, cache, trackers := mirror(t)
	if _, errOut, code := runBinary(t, "warm", "-root", root, "-cache", cache, "yum/**"); code != 0 {
		t.Fatalf("warm: %s", errOut)
	}
	conf := filepath.Join(t.TempDir(), "pkgtorrent-service.conf")
	os.WriteFile(conf, []byte("root = "+root+"\ncache = "+cache+"\ntrackers = "+trackers+"\n"), 0o644)
	args := strings.Fields(line)
	if args[0] != "/usr/bin/pkgtorrent-service" {
		t.Fatalf("%q does not run /usr/bin/pkgtorrent-service", line)
	}
	for i, a := range args {
		if a == "/etc/pkgtorrent-service.conf" {
			args[i] = conf
		}
	}
	out, errOut, code := runBinary(t, args[1:]...)
	if code != 0 {
		t.Fatalf("%q: exit %d: %s", line, code, errOut)
	}
	return out
}

func TestGCUnits(t *testing.T) {
	service, timer := "../../deploy/pkgtorrent-service-gc.service", "../../deploy/pkgtorrent-service-gc.timer"
	if v := unitValue(t, timer, "OnCalendar"); v != "daily" {
		t.Errorf("timer OnCalendar=%s, want daily", v)
	}
	if v := unitValue(t, service, "ReadWritePaths"); v != config.Default().Cache {
		t.Errorf("ReadWritePaths=%s, want the default cache folder %s", v, config.Default().Cache)
	}
	exec := unitValue(t, service, "ExecStart")
	if !strings.Contains(exec, " gc ") {
		t.Errorf("ExecStart=%s does not run gc", exec)
	}
	if out := runDeployed(t, exec); !strings.HasPrefix(out, "gc: nothing to remove; kept 9 entries") {
		t.Errorf("ExecStart's gc printed %q", out)
	}
	verifyUnits(t, service, timer)
}

// verifyUnits runs systemd-analyze verify on copies of the units that run
// this build of the binary (verify checks that ExecStart is executable).
func verifyUnits(t *testing.T, units ...string) {
	t.Helper()
	analyze := e2eNeed(t, "systemd-analyze")
	dir := t.TempDir()
	var copies []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/bin/pkgtorrent-service"), []byte(serviceBinary(t)))
		c := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(c, b, 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, copies...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestGCCron(t *testing.T) {
	b, err := os.ReadFile("../../deploy/pkgtorrent-service-gc.cron")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") || regexp.MustCompile(`^[A-Z]+=`).MatchString(line) {
			continue
		}
		jobs = append(jobs, line)
	}
	if len(jobs) != 1 {
		t.Fatalf("jobs %q, want one", jobs)
	}
	// minute hour day month weekday user command: once a day, as root.
	f := strings.Fields(jobs[0])
	if len(f) < 7 || f[2] != "*" || f[3] != "*" || f[4] != "*" || f[5] != "root" || !regexp.MustCompile(`^[0-9]+$`).MatchString(f[0]+f[1]) {
		t.Fatalf("%q is not a daily job run as root", jobs[0])
	}
	command, _, _ := strings.Cut(strings.Join(f[6:], " "), " 2>&1")
	if out := runDeployed(t, command); !strings.HasPrefix(out, "gc: nothing to remove; kept 9 entries") {
		t.Errorf("the cron job's gc printed %q", out)
	}
}
