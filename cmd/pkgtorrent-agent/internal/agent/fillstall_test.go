package agent

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/time/rate"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestFillSlowPeerNotStuck: a peer that has the whole file sends it
// slowly (64 KiB/s, a piece of 256 KiB in 4 s), its blocks arriving all
// along. Neither the fill nor the request takes anything from the
// mirror: bytes arriving are progress, though no piece verified within
// the stall (2 s here; a request waits for a piece at most four times
// that). Counting verified pieces only, the fill took the file from the
// mirror after the stall.
func TestFillSlowPeerNotStuck(t *testing.T) {
	root := t.TempDir()
	const name = "slowpeer-1-1.noarch.rpm"
	want := writeRandom(t, root, pkgDir+name, 512<<10)
	flags := []string{"-piece-length", "256KiB"}
	pre := startMirrorWith(t, root, flags)
	torrentURL := "/yum/torrent_service/single/" + pkgDir + name
	tracker := startTracker(t, pre.base+torrentURL)
	m := startMirrorWith(t, root, flags, tracker)

	// The slow seeder, announced to the tracker before the agent asks.
	resp, err := http.Get(m.base + torrentURL)
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var dataDir string
	peer := peerClient(t, func(c *torrent.ClientConfig) {
		c.UploadRateLimiter = rate.NewLimiter(64<<10, 32<<10)
		c.Seed = true
		dataDir = c.DataDir
	})
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, info.Name), want, 0o644); err != nil {
		t.Fatal(err)
	}
	pt, err := peer.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	<-pt.GotInfo()
	if err := pt.VerifyDataContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := pt.BytesCompleted(); got != int64(len(want)) {
		t.Fatalf("the seeder has %d of %d bytes", got, len(want))
	}
	waitFor(t, "the tracker to count the seeder", func() bool {
		return scrapeCount(t, tracker, mi.HashInfoBytes()) == 1
	})

	a := startAgent(t, t.TempDir(), []string{m.base}, func(c *settings.Config) {
		c.Stall = 2 * time.Second
		c.OriginAfter = 500 * time.Millisecond
	})
	began := time.Now()
	getWhole(t, "agent", a.url(m.base+"/"+pkgDir+name), want)
	took := time.Since(began)
	st := a.swarm.Status().Totals
	t.Logf("%v; from peers %d, mirror %d, fallback %d", took, st.FromPeers, st.FromOrigin, st.FromFallback)
	if st.FromOrigin != 0 || st.FromFallback != 0 || st.FromPeers != int64(len(want)) {
		t.Errorf("the mirror sent %d bytes to the fill and %d to the request, want none: the peer's blocks kept coming", st.FromOrigin, st.FromFallback)
	}
	if took < 3*time.Second {
		t.Errorf("took %v, want the seeder's pace (8 s): the test did not slow the peer", took)
	}
}

// scrapeCount is the hosts the tracker of announce URL tracker counts in
// the swarm of ih (0 when it does not answer).
func scrapeCount(t *testing.T, tracker string, ih metainfo.Hash) int {
	t.Helper()
	u, ok := scrapeURL(tracker, ih)
	if !ok {
		t.Fatalf("no scrape URL for %s", tracker)
	}
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var answer struct {
		Files map[string]struct {
			Complete   int `bencode:"complete"`
			Incomplete int `bencode:"incomplete"`
		} `bencode:"files"`
	}
	if err := bencode.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return 0
	}
	f := answer.Files[string(ih[:])]
	return f.Complete + f.Incomplete
}
