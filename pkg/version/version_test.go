package version

import (
	"bufio"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "3a642bb7e1a2c0ffee0000000000000000000000"}, {Key: "vcs.time", Value: "2026-11-14T21:00:23Z"}, {Key: "vcs.modified", Value: "false"}}},
			"p v1.2.0 (revision 3a642bb7e1a2, 2026-11-14T21:00:23Z) go1.26.8 " + platform},
		{"work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			"p (devel) (revision abc, modified) go1.26.8 " + platform},
		{"no build info", nil, "p (unknown) " + runtime.Version() + " " + platform},
	} {
		if got := Format("p", tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := String("p"); !strings.HasPrefix(got, "p ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("String = %q", got)
	}
}

func TestCPUName(t *testing.T) {
	const cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel name\t: other\n"
	got := cpuName(bufio.NewScanner(strings.NewReader(cpuinfo)), "amd64")
	if want := "AMD EPYC (family 26, model 2)"; got != want {
		t.Errorf("cpuName = %q, want %q", got, want)
	}
	if got := cpuName(bufio.NewScanner(strings.NewReader("")), "arm64"); got != "arm64" {
		t.Errorf("cpuName of nothing = %q, want the architecture", got)
	}
}
