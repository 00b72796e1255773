package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// ManWidth is the terminal width manual pages are rendered at; no line
// may be wider.
const ManWidth = 80

// RenderMan formats a manual page as man -l does, failing on any warning
// of groff or man or a line wider than ManWidth, and returns the text.
func RenderMan(t testing.TB, page string) string {
	t.Helper()
	// groff's own check: every warning (-ww), no output.
	cmd := exec.Command(Need(t, "groff"), "-man", "-Tutf8", "-ww", "-z", page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -man -ww %s: %v\n%s", page, err, stderr.String())
	}
	cmd = exec.Command(Need(t, "man"), "--warnings=w", "-E", "UTF-8", "-l", page)
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
		if n := len([]rune(line)); n > ManWidth {
			t.Errorf("%s line %d is %d columns wide, over %d: %q", page, i+1, n, ManWidth, line)
		}
	}
	return text
}

// UnitValues returns the values of key in a systemd unit file, in order.
func UnitValues(t testing.TB, unit, key string) []string {
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

// UnitValue returns the one value of key in a systemd unit file, failing
// the test when the unit has none or several.
func UnitValue(t testing.TB, unit, key string) string {
	t.Helper()
	vals := UnitValues(t, unit, key)
	if len(vals) != 1 {
		t.Fatalf("%s has %d lines %s=, want 1", unit, len(vals), key)
	}
	return vals[0]
}
