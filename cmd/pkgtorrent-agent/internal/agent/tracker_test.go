package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestTrackerAsDeployed sets the tracker up as deploy/README.md says: the
// shipped opentracker settings (deploy/pkgtorrent-tracker.conf, only its
// port and the whitelist's folder moved into the test's), the service with
// tracker-whitelist and the tracker in its trackers file, no whitelist
// written by hand. The service's answer puts the torrent on the list,
// a reload (what pkgtorrent-tracker-reload.path starts: SIGHUP) makes
// opentracker read it, and a second agent then finds the first one
// through the tracker.
func TestTrackerAsDeployed(t *testing.T) {
	bin := e2e.Need(t, "opentracker")
	// opentracker drops to nobody when started as root, and reads the
	// whitelist again as nobody.
	dir := e2e.SharedDir(t, "tracker")
	whitelist := filepath.Join(dir, "whitelist")
	port := e2e.Port(t)
	conf, err := os.ReadFile("../../../../deploy/pkgtorrent-tracker.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	for _, r := range []struct{ re, with string }{
		{`(?m)^listen\.tcp_udp .*$`, fmt.Sprintf("listen.tcp_udp 127.0.0.1:%d", port)},
		{`(?m)^access\.whitelist /var/cache/torrent_service/whitelist$`, "access.whitelist " + whitelist},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(text) {
			t.Fatalf("deploy/pkgtorrent-tracker.conf has no line %s", r.re)
		}
		text = re.ReplaceAllString(text, r.with)
	}
	confFile := filepath.Join(dir, "tracker.conf")
	e2e.WriteFile(t, confFile, text)
	tracker := e2e.Start(t, "opentracker", exec.Command(bin, "-f", confFile), filepath.Join(dir, "opentracker.log"))
	announce := e2e.Announce(port)
	e2e.Wait(t, "opentracker", 20*time.Second, func() error {
		resp, err := http.Get(strings.TrimSuffix(announce, "/announce") + "/stats")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}, tracker)

	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"t-1-1.noarch.rpm", 5<<20+99)
	m := startMirrorWith(t, root, []string{"-tracker-whitelist", whitelist}, announce)
	u := m.base + "/" + pkgDir + "t-1-1.noarch.rpm"

	// The mirror answers the torrent (as it does the first host), then
	// the path unit's reload.
	resp, err := http.Get(m.base + "/yum/torrent_service/single/" + pkgDir + "t-1-1.noarch.rpm")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ih, err := e2e.InfoHash(body)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := os.ReadFile(whitelist)
	if err != nil || !bytes.Contains(listed, []byte(ih)) {
		t.Fatalf("the whitelist holds %q (%v), want the torrent's info hash %s", listed, err, ih)
	}
	if err := tracker.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// opentracker reads the list in a thread of its own: wait until it
	// takes announces of the torrent (a "stopped" one adds no peer).
	raw, _ := hex.DecodeString(ih)
	probe := announce + "?info_hash=" + url.QueryEscape(string(raw)) +
		"&peer_id=-PROBE0-000000000000&port=9&uploaded=0&downloaded=0&left=0&event=stopped&numwant=0"
	e2e.Wait(t, "opentracker to read the whitelist again", 20*time.Second, func() error {
		resp, err := http.Get(probe)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if bytes.Contains(b, []byte("failure reason")) {
			return fmt.Errorf("announce refused: %q", b)
		}
		return nil
	}, tracker)
	patient := func(c *settings.Config) { c.Stall = 30 * time.Second }
	a := startAgent(t, t.TempDir(), []string{m.base}, patient)
	b := startAgent(t, t.TempDir(), []string{m.base}, patient)
	getWhole(t, "agent a", a.url(u), want)
	getWhole(t, "agent b", b.url(u), want)
	// Agent b found agent a through the tracker (the agents have no other
	// way: no PEX, no DHT): it connected to it, and got bytes from it.
	// That b gets every byte from a is TestPeersServe's; a stall between
	// two agents (issue 19) can make it fall back to the mirror here too.
	st := b.swarm.Status()
	if st.Totals.FromPeers == 0 && st.Torrents[0].Peers == 0 {
		t.Errorf("agent b: %+v, peers %d; want it connected to agent a, found through the tracker", st.Totals, st.Torrents[0].Peers)
	}
	// The fill's count of the swarm: opentracker's scrape, under the
	// shipped settings, counts both agents.
	hash := metainfo.NewHashFromHex(ih)
	if n := b.swarm.swarmSize(context.Background(), st.Torrents[0].Trackers, hash); n != 2 {
		t.Errorf("the trackers %v count %d hosts in the swarm, want 2 (agents a and b)", st.Torrents[0].Trackers, n)
	}
}
