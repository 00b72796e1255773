package agent

import (
	"crypto/rand"
	"crypto/sha1"
	"expvar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// TestNoHaveToPeerThatHasIt: a client that downloads a torrent from a
// seed tells a connected peer that lacks the pieces of each piece it
// completes, and a connected peer that has them of none until it has
// them all (the engine's patch 9, third_party/torrent/PATCHED.md). The
// peers are raw protocol connections of the test, which count the have
// messages they read.
func TestNoHaveToPeerThatHasIt(t *testing.T) {
	const pieces, pieceLength = 8, 32 << 10
	mi, seed, data := testSeed(t, "have-1-1.noarch.rpm", pieces, pieceLength)
	down := peerClient(t, func(c *torrent.ClientConfig) { c.DisablePEX = true; c.DisableAcceptRateLimiting = true })
	dt, err := down.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	dt.DownloadAll()

	// Raw peers with all pieces, none, and all but the first: the last
	// is told of the first piece as the downloader completes it, and of
	// the others once the downloader has them all: two complete peers
	// must learn it of each other.
	hasAll := dialRaw(t, down, mi, "127.0.0.2", func(int) bool { return true })
	lacks := dialRaw(t, down, mi, "127.0.0.3", func(int) bool { return false })
	almost := dialRaw(t, down, mi, "127.0.0.4", func(i int) bool { return i > 0 })
	waitFor(t, "the raw peers to connect", func() bool { return dt.Stats().ActivePeers == 3 })

	// The engine's own count of the have messages it wrote (/debug/vars),
	// which the raw peers' counts check: every one was written to them.
	haveCount := func() int64 {
		v, _ := expvar.Get("torrent").(*expvar.Map).Get("messages written of type Have").(*expvar.Int)
		if v == nil {
			return 0
		}
		return v.Value()
	}
	havesBefore := haveCount()
	dt.AddClientPeer(seed)
	select {
	case <-dt.Complete().On():
	case <-time.After(20 * time.Second):
		t.Fatalf("the download has %d of %d bytes after 20 s", dt.BytesCompleted(), len(data))
	}
	// The last have messages are written as the download completes, by
	// the connections' writers.
	waitFor(t, "the have messages of the last pieces", func() bool {
		return lacks.haves.Load() == pieces && almost.haves.Load() == pieces
	})
	hasAll.close()
	lacks.close()
	almost.close()
	toSeed, toLacking, toAlmost := hasAll.haves.Load(), lacks.haves.Load(), almost.haves.Load()
	// Before patch 9, the peer with all pieces was told of each too.
	// Before patch 12, the engine counted each message it wrote twice.
	read := int64(toSeed + toLacking + toAlmost)
	if wrote := haveCount() - havesBefore; wrote != read {
		t.Errorf("the engine counted %d have messages written, the raw peers read %d", wrote, read)
	}
	if toSeed != 0 || toLacking != pieces || toAlmost != pieces {
		t.Errorf("have messages read by the peer with all pieces %d, with none %d, with all but the first %d; want 0, %d and %d",
			toSeed, toLacking, toAlmost, pieces, pieces)
	}
}

// testSeed makes a torrent of pieces random pieces of pieceLength bytes
// named name, and a client (peerClient, with opts) that seeds it.
func testSeed(t *testing.T, name string, pieces, pieceLength int, opts ...func(*torrent.ClientConfig)) (*metainfo.MetaInfo, *torrent.Client, []byte) {
	t.Helper()
	data := make([]byte, pieces*pieceLength)
	rand.Read(data)
	info := metainfo.Info{Name: name, Length: int64(len(data)), PieceLength: int64(pieceLength)}
	for off := 0; off < len(data); off += pieceLength {
		sum := sha1.Sum(data[off : off+pieceLength])
		info.Pieces = append(info.Pieces, sum[:]...)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	mi := &metainfo.MetaInfo{InfoBytes: ib}
	var seedDir string
	seed := peerClient(t, append([]func(*torrent.ClientConfig){func(c *torrent.ClientConfig) { c.Seed = true; seedDir = c.DataDir }}, opts...)...)
	if err := os.WriteFile(filepath.Join(seedDir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := seed.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.VerifyDataContext(t.Context()); err != nil || st.BytesCompleted() != int64(len(data)) {
		t.Fatalf("the seed has %d of %d bytes: %v", st.BytesCompleted(), len(data), err)
	}
	return mi, seed, data
}
