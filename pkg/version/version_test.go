package version

import (
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
