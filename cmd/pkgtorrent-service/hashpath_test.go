package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestVersionHashing: version -v names the CPU and the hashing path the
// binary measured fastest here, with a rate for every path it measured;
// hash-path names a path instead (then no measurement), and a path that
// does not exist is refused with one line.
func TestVersionHashing(t *testing.T) {
	out, errOut, code := runBinary(t, "version", "-v")
	if code != 0 {
		t.Fatalf("version -v: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "cpu: ") || !strings.HasSuffix(lines[1], " cores") {
		t.Fatalf("version -v printed %q, want the version, a cpu: line and a hashing: line", out)
	}
	m := regexp.MustCompile(`^hashing: (lanes-mmap|lanes-pread|sha1-pread), the fastest measured: (.*) \(8 MiB in memory on \d+ cores, \S+\)$`).FindStringSubmatch(lines[2])
	if m == nil {
		t.Fatalf("hashing line %q", lines[2])
	}
	if !strings.Contains(m[2], m[1]+" ") || !strings.Contains(m[2], "sha1-pread ") || !strings.Contains(m[2], " GB/s") {
		t.Errorf("the measured rates %q do not name the chosen path %s and sha1-pread", m[2], m[1])
	}

	// A named path is taken as it is; a bad name is refused.
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"sha1-pread", 0, ""},
		{"lanes", 2, `hash-path: unknown hashing path "lanes"`},
	} {
		_, errOut, code := runBinary(t, "warm", "-root", dir, "-cache", dir+"/cache", "-hash-path", tc.path, "nothing/*.rpm")
		if tc.code == 0 && strings.Contains(errOut, "hash-path") {
			t.Errorf("-hash-path %s: %s", tc.path, errOut)
		}
		if tc.code != 0 && (code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0) {
			t.Errorf("-hash-path %s: exit %d, %q; want %d and one line with %q", tc.path, code, errOut, tc.code, tc.want)
		}
	}
}
