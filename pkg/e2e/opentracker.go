package e2e

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartOpentracker starts opentracker on node's address and port (TCP and
// UDP), tracking only the given info hashes (hex): Debian builds it with
// a whitelist. It returns once the tracker answers /stats.
func StartOpentracker(t testing.TB, node Node, port int, infoHashes []string) *Proc {
	t.Helper()
	tracker := Need(t, "opentracker")
	// When root, opentracker chroots into -d and runs as nobody: the
	// whitelist path is relative to that folder.
	dir := SharedDir(t, "opentracker")
	WriteFile(t, filepath.Join(dir, "whitelist"), strings.Join(infoHashes, "\n")+"\n")
	p := strconv.Itoa(port)
	cmd := node.Command(nil, tracker, "-i", node.Addr(), "-p", p, "-P", p, "-d", dir, "-w", "whitelist")
	cmd.Dir = dir
	proc := Start(t, "opentracker", cmd, filepath.Join(dir, "opentracker.log"))
	Wait(t, "opentracker", 20*time.Second, func() error {
		resp, err := http.Get(node.URL("http", port) + "/stats")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}, proc)
	return proc
}

// Announce is the HTTP announce URL of a tracker on 127.0.0.1:port.
func Announce(port int) string { return Node{}.URL("http", port) + "/announce" }
