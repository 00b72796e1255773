package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// deployDir holds what an operator installs: the unit, the settings file,
// the spec and, under man/, the manual pages.
const deployDir = "../../deploy/"

func TestMain(m *testing.M) {
	code := m.Run()
	e2e.Cleanup()
	os.Exit(code)
}

// agentBinary builds this module's binary once per test run.
func agentBinary(t *testing.T) string {
	t.Helper()
	return e2e.GoBinary(t, e2e.Agent)
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

// need returns the path of a program a test drives (see e2e.Need); in
// -short mode (the RPM's %check) the test skips instead.
func need(t *testing.T, program string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: not in -short mode", program)
	}
	return e2e.Need(t, program)
}

// renderMan is e2e.RenderMan, skipped in -short mode as need is.
func renderMan(t *testing.T, page string) string {
	t.Helper()
	need(t, "groff")
	return e2e.RenderMan(t, page)
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
