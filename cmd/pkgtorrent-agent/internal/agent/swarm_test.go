package agent

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// startTracker runs opentracker on a free loopback port, tracking the
// torrents of the mirror files given (Debian's opentracker tracks only
// whitelisted info hashes). It returns the announce URL.
func startTracker(t *testing.T, torrentURLs ...string) string {
	t.Helper()
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Fatal("opentracker is missing: `make deps` installs the Debian package opentracker")
	}
	dir := t.TempDir()
	// opentracker chroots into dir and runs as nobody when started as
	// root: the folders above must let it in.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	var wl bytes.Buffer
	for _, u := range torrentURLs {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		mi, err := metainfo.Load(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("torrent %s: %v", u, err)
		}
		wl.WriteString(mi.HashInfoBytes().HexString() + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), wl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "-i", "127.0.0.1", "-p", port, "-P", port, "-d", dir, "-w", "whitelist")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "opentracker", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "http://127.0.0.1:" + port + "/announce"
}

// freePort is a port free for TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return strconv.Itoa(port)
	}
	t.Fatal("no free port on 127.0.0.1")
	return ""
}

// TestPeersServe: a second agent gets the whole file from the first one,
// nothing from the mirror, and both hand out the mirror's bytes.
func TestPeersServe(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"p-1-1.noarch.rpm", 6<<20+4321)
	// The tracker must know the info hash before the mirror that names
	// it serves the torrent; trackers are outside the info, so a mirror
	// without them gives the same info hash.
	pre := startMirror(t, root)
	tracker := startTracker(t, pre.base+"/yum/torrent_service/single/"+pkgDir+"p-1-1.noarch.rpm")
	m := startMirror(t, root, tracker)
	u := m.base + "/" + pkgDir + "p-1-1.noarch.rpm"
	// What this shows is where the bytes come from, not how soon: on a
	// loaded machine (make test runs packages in parallel) this test took
	// 1.4 to 11 s, and a slow start past the default stall of 5 s would
	// stream the rest from the mirror.
	patient := func(c *settings.Config) { c.Stall = 30 * time.Second }
	a := startAgent(t, t.TempDir(), []string{m.base}, patient)
	b := startAgent(t, t.TempDir(), []string{m.base}, patient)

	if resp, got := get(t, a.url(u)); resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("agent a: status %d, %d bytes; want 200 and the mirror's %d", resp.StatusCode, len(got), len(want))
	}
	if resp, got := get(t, b.url(u)); resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("agent b: status %d, %d bytes; want 200 and the mirror's %d", resp.StatusCode, len(got), len(want))
	}
	sa, sb := a.swarm.Status().Totals, b.swarm.Status().Totals
	if sa.FromOrigin != int64(len(want)) {
		t.Errorf("agent a: %+v, want the whole file from the mirror", sa)
	}
	if sb.FromPeers != int64(len(want)) || sb.FromOrigin != 0 || sb.FromFallback != 0 {
		t.Errorf("agent b: %+v, want the whole file from agent a and nothing from the mirror", sb)
	}
	if sa.Uploaded < int64(len(want)) {
		t.Errorf("agent a uploaded %d bytes, want at least the file's %d", sa.Uploaded, len(want))
	}
	if sb.Offload != 1 {
		t.Errorf("agent b's offload = %v, want 1", sb.Offload)
	}
}
