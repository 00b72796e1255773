//go:build failpoint

package failpoint

import (
	"log/slog"
	"os"
	"strings"
)

// EnvName names the failpoint that a binary built with -tags failpoint
// stops at: it logs `msg="failpoint reached"` and then blocks that
// goroutine for good, so that the test can kill the process right there.
// EnvMatch, when set, limits it to calls whose arg contains that text.
const (
	EnvName  = "PKGTORRENT_FAILPOINT"
	EnvMatch = "PKGTORRENT_FAILPOINT_MATCH"
)

func init() {
	name := os.Getenv(EnvName)
	if name == "" {
		return
	}
	match := os.Getenv(EnvMatch)
	Enable(name, func(arg string) {
		if !strings.Contains(arg, match) {
			return
		}
		slog.Warn("failpoint reached", "failpoint", name, "arg", arg)
		select {}
	})
}
