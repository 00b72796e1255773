package agent

import (
	"fmt"
	"os"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/engine"
)

func TestMain(m *testing.M) {
	// As the agent's main does: the engine's storage with pread/pwrite.
	if err := engine.ExecWithFileIO(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
