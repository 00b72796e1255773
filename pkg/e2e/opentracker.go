package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
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
	if len(infoHashes) > 0 {
		// It reads the whitelist in a thread of its own, after /stats
		// answers: wait until it takes an announce of the first hash, and
		// take the probe's peer out again (event=stopped).
		raw, err := hex.DecodeString(infoHashes[0])
		if err != nil {
			t.Fatalf("opentracker: info hash %q: %v", infoHashes[0], err)
		}
		var q strings.Builder
		for _, b := range raw {
			fmt.Fprintf(&q, "%%%02X", b)
		}
		announce := node.URL("http", port) + "/announce?info_hash=" + q.String() +
			"&peer_id=-E2EPROBE-0123456789&port=9&uploaded=0&downloaded=0&left=0&compact=1"
		Wait(t, "opentracker's whitelist", 20*time.Second, func() error {
			resp, err := http.Get(announce)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if err != nil {
				return err
			}
			if bytes.Contains(body, []byte("failure reason")) {
				return fmt.Errorf("announce: %q", body)
			}
			return nil
		}, proc)
		if resp, err := http.Get(announce + "&event=stopped"); err == nil {
			resp.Body.Close()
		}
	}
	return proc
}

// Announce is the HTTP announce URL of a tracker on 127.0.0.1:port.
func Announce(port int) string { return Node{}.URL("http", port) + "/announce" }
