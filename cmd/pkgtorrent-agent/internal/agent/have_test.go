package agent

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"expvar"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
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

	// rawPeer connects to the downloader as a peer with all pieces or
	// none, and counts the have messages it reads until the connection
	// ends.
	var wg sync.WaitGroup
	rawPeer := func(has func(int) bool, haves *atomic.Int32, from string) net.Conn {
		// From an address of its own: the engine limits how fast it
		// accepts connections from one address. It may also close a
		// connection during the handshake now and then: tried again.
		dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		var id [20]byte
		rand.Read(id[:])
		ih := mi.HashInfoBytes()
		var c net.Conn
		for try := 0; ; try++ {
			c, err = dialer.Dial("tcp", down.ListenAddrs()[0].String())
			if err == nil {
				_, err = pp.Handshake(t.Context(), c, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast))
			}
			if err == nil {
				break
			}
			if c != nil {
				c.Close()
			}
			if try == 4 {
				t.Fatalf("handshake with the downloader from %s: %v", from, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		msg := pp.Message{Type: pp.Bitfield, Bitfield: make([]bool, pieces)}
		for i := range pieces {
			msg.Bitfield[i] = has(i)
		}
		if _, err := c.Write(msg.MustMarshalBinary()); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			d := pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}
			for {
				var m pp.Message
				if d.Decode(&m) != nil {
					return
				}
				if m.Type == pp.Have && !m.Keepalive {
					haves.Add(1)
				}
			}
		})
		return c
	}
	var toSeed, toLacking, toAlmost atomic.Int32
	hasAll := rawPeer(func(int) bool { return true }, &toSeed, "127.0.0.2")
	lacks := rawPeer(func(int) bool { return false }, &toLacking, "127.0.0.3")
	// A peer that lacks only the first piece is told of that one as the
	// downloader completes it, and of the others once the downloader
	// has them all: two complete peers must learn it of each other.
	almost := rawPeer(func(i int) bool { return i > 0 }, &toAlmost, "127.0.0.4")
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
		return toLacking.Load() == pieces && toAlmost.Load() == pieces
	})
	hasAll.Close()
	lacks.Close()
	almost.Close()
	wg.Wait()
	// Before patch 9, the peer with all pieces was told of each too.
	// Before patch 12, the engine counted each message it wrote twice.
	read := int64(toSeed.Load() + toLacking.Load() + toAlmost.Load())
	if wrote := haveCount() - havesBefore; wrote != read {
		t.Errorf("the engine counted %d have messages written, the raw peers read %d", wrote, read)
	}
	if toSeed.Load() != 0 || toLacking.Load() != pieces || toAlmost.Load() != pieces {
		t.Errorf("have messages read by the peer with all pieces %d, with none %d, with all but the first %d; want 0, %d and %d",
			toSeed.Load(), toLacking.Load(), toAlmost.Load(), pieces, pieces)
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
