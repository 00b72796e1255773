package agent

import (
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// startTracker runs opentracker on a free loopback port, tracking the
// torrents of the mirror files given (Debian's opentracker tracks only
// whitelisted info hashes). It returns the announce URL.
func startTracker(t testing.TB, torrentURLs ...string) string {
	t.Helper()
	var hashes []string
	for _, u := range torrentURLs {
		hashes = append(hashes, torrentOf(t, u).HashInfoBytes().HexString())
	}
	port := e2e.Port(t)
	e2e.StartOpentracker(t, e2e.Node{}, port, hashes)
	return e2e.Announce(port)
}

// singleTorrent is the path of the service's per-file torrent of the
// package named name.
func singleTorrent(name string) string { return "/yum/torrent_service/single/" + pkgDir + name }

// startTrackedMirror starts opentracker tracking the per-file torrents
// of the packages names of root, and a mirror of root (run with flags)
// whose torrents name it; it returns the mirror and the announce URL.
// The tracker must know the info hashes before the mirror that names it
// serves them: a first mirror without trackers gives them (trackers are
// outside the info).
func startTrackedMirror(t testing.TB, root string, flags []string, names ...string) (*mirror, string) {
	t.Helper()
	pre := startMirrorWith(t, root, flags)
	var torrents []string
	for _, n := range names {
		torrents = append(torrents, pre.base+singleTorrent(n))
	}
	tracker := startTracker(t, torrents...)
	return startMirrorWith(t, root, flags, tracker), tracker
}

// TestPeersServe: a second agent gets the whole file from the first one,
// nothing from the mirror, and both hand out the mirror's bytes.
func TestPeersServe(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"p-1-1.noarch.rpm", 6<<20+4321)
	m, _ := startTrackedMirror(t, root, nil, "p-1-1.noarch.rpm")
	u := m.base + "/" + pkgDir + "p-1-1.noarch.rpm"
	// What this shows is where the bytes come from, not how soon: on a
	// loaded machine (make test runs packages in parallel) this test took
	// 1.4 to 11 s, and a slow start past the default stall of 5 s would
	// stream the rest from the mirror.
	patient := func(c *settings.Config) { c.Stall = 30 * time.Second }
	a := startAgent(t, t.TempDir(), []string{m.base}, patient)
	b := startAgent(t, t.TempDir(), []string{m.base}, patient)

	getWhole(t, "agent a", a.url(u), want)
	getWhole(t, "agent b", b.url(u), want)
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
