// Package version tells which build of the program is running, from what
// the Go toolchain records in every binary (runtime/debug.ReadBuildInfo):
// the module version, the VCS revision and time, and the Go version.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// String describes the running binary in one line, for example:
//
//	pkgtorrent-service v0.0.0-20261114210023-3a642bb7e1a2+dirty (revision 3a642bb7e1a2, 2026-11-14T21:00:23Z, modified) go1.26.8 linux/amd64
func String(program string) string {
	bi, _ := debug.ReadBuildInfo()
	return Format(program, bi)
}

// Format is String for given build information (nil when the binary has
// none).
func Format(program string, bi *debug.BuildInfo) string {
	v := "(unknown)"
	goVersion := runtime.Version()
	var vcs []string
	if bi != nil {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			vcs = append(vcs, "revision "+rev[:min(len(rev), 12)])
		}
		if at != "" {
			vcs = append(vcs, at)
		}
		if modified {
			vcs = append(vcs, "modified")
		}
	}
	line := program + " " + v
	if len(vcs) > 0 {
		line += " (" + strings.Join(vcs, ", ") + ")"
	}
	return line + " " + goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}
