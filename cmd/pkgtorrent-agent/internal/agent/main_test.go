package agent

import (
	"fmt"
	"os"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/engine"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

func TestMain(m *testing.M) {
	// As the agent's main does: the engine's storage with pread/pwrite.
	if err := engine.ExecWithFileIO(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	e2e.Cleanup()
	os.Exit(code)
}
