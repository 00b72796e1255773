package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// deployDir holds what an operator installs: the unit, the settings file,
// the spec and, under man/, the manual pages.
const deployDir = "../../deploy/"

var agentBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agentBin.dir != "" {
		os.RemoveAll(agentBin.dir)
	}
	os.Exit(code)
}

// agentBinary builds this module's binary once per test run.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBin.once.Do(func() {
		agentBin.dir, agentBin.err = os.MkdirTemp("", "pkgtorrent-agent-main-test-")
		if agentBin.err != nil {
			return
		}
		agentBin.path = filepath.Join(agentBin.dir, "pkgtorrent-agent")
		out, err := exec.Command("go", "build", "-o", agentBin.path, ".").CombinedOutput()
		if err != nil {
			agentBin.err = errors.New(err.Error() + ": " + string(out))
		}
	})
	if agentBin.err != nil {
		t.Fatalf("building pkgtorrent-agent: %v", agentBin.err)
	}
	return agentBin.path
}

// runAgent runs the binary to its end (at most a minute) and returns its
// output and exit status.
func runAgent(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// Built first: the minute is the run's, not the build's.
	bin := agentBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("pkgtorrent-agent %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// need returns the path of a program a test drives, or fails the test with
// the Debian package that has it: the tests never skip because a program
// is missing. In -short mode (the RPM's %check) they skip instead.
func need(t *testing.T, program, debPackage string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: not in -short mode", program)
	}
	p, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("%s is missing: install the Debian package %s (`make deps` installs it)", program, debPackage)
	}
	return p
}

const manWidth = 80

// renderMan formats a manual page as man -l does, failing on any warning
// of groff or man or a line wider than manWidth, and returns the text.
func renderMan(t *testing.T, page string) string {
	t.Helper()
	groff := need(t, "groff", "groff-base")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -man -ww %s: %v\n%s", page, err, stderr.String())
	}
	cmd = exec.Command(need(t, "man", "man-db"), "--warnings=w", "-E", "UTF-8", "-l", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "MAN_KEEP_FORMATTING=")
	var stdout bytes.Buffer
	stderr.Reset()
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

// section returns the text of a rendered page's section, up to the next
// section heading.
func section(text, name string) string {
	_, rest, ok := strings.Cut(text, "\n"+name+"\n")
	if !ok {
		return ""
	}
	if loc := regexp.MustCompile(`(?m)^[A-Z]`).FindStringIndex(rest); loc != nil {
		rest = rest[:loc[0]]
	}
	return rest
}

// unitValues returns the values of key in a unit file, in order.
func unitValues(t *testing.T, unit, key string) []string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, m := range regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(key)+`=(.*)$`).FindAllSubmatch(b, -1) {
		vals = append(vals, string(m[1]))
	}
	return vals
}

// unitValue returns the one value of key in a unit file.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	vals := unitValues(t, unit, key)
	if len(vals) != 1 {
		t.Fatalf("%s has %d lines %s=, want 1", unit, len(vals), key)
	}
	return vals[0]
}
