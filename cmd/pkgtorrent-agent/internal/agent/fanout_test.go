package agent

import (
	"bufio"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestUploadFanOutHolds: a seed with upload-fan-out 1 serves a piece no
// other peer has to one peer at a time (the engine's patch 11,
// third_party/torrent/PATCHED.md). Raw protocol peers of the test ask
// it: the first asker of a piece is served; a second is held, and told
// the request is refused once the first says it has the piece; a held
// request its peer cancels is refused; one held past the hold is
// served.
func TestUploadFanOutHolds(t *testing.T) {
	const hold = time.Second
	mi, seed, data := testSeed(t, "fan-1-1.noarch.rpm", 2, 32<<10, func(c *torrent.ClientConfig) {
		c.UploadFanOut = 1
		c.UploadHold = hold
	})
	block := func(piece int) pp.Message {
		return pp.Message{Type: pp.Request, Index: pp.Integer(piece), Begin: 0, Length: 16 << 10}
	}
	a := dialRaw(t, seed, mi, "127.0.0.2")
	b := dialRaw(t, seed, mi, "127.0.0.3")
	c := dialRaw(t, seed, mi, "127.0.0.4")

	// Piece 0: a is served; b is held until a has the piece, then refused.
	a.send(block(0))
	if m := a.next(5 * time.Second); m.Type != pp.Piece || m.Index != 0 || string(m.Piece) != string(data[:16<<10]) {
		t.Fatalf("a asked for a block of piece 0, which no other peer has: got %v, want the block", m.Type)
	}
	b.send(block(0))
	if m := b.next(300 * time.Millisecond); !m.Keepalive {
		t.Fatalf("b asked for a block of piece 0 while a was served it: got %v, want nothing (held)", m.Type)
	}
	a.send(pp.Message{Type: pp.Have, Index: 0})
	if m := b.next(5 * time.Second); m.Type != pp.Reject || m.Index != 0 {
		t.Fatalf("a has piece 0 now: b got %v, want its request refused (take it from a)", m.Type)
	}

	// Piece 1: a is served; b's request is held and cancelled, which
	// refuses it; c's is held and served after the hold.
	a.send(block(1))
	if m := a.next(5 * time.Second); m.Type != pp.Piece || m.Index != 1 {
		t.Fatalf("a asked for a block of piece 1: got %v, want the block", m.Type)
	}
	b.send(block(1))
	asked := time.Now()
	c.send(block(1))
	if m := b.next(300 * time.Millisecond); !m.Keepalive {
		t.Fatalf("b asked for a block of piece 1 while a was served it: got %v, want nothing (held)", m.Type)
	}
	b.send(pp.Message{Type: pp.Cancel, Index: 1, Begin: 0, Length: 16 << 10})
	if m := b.next(5 * time.Second); m.Type != pp.Reject || m.Index != 1 {
		t.Fatalf("b cancelled its held request: got %v, want a reject (BEP 6)", m.Type)
	}
	m := c.next(5 * time.Second)
	if m.Type != pp.Piece || m.Index != 1 || string(m.Piece) != string(data[32<<10:48<<10]) {
		t.Fatalf("c's request held past the hold: got %v, want the block", m.Type)
	}
	if waited := time.Since(asked); waited < hold {
		t.Errorf("c's held request was served after %v, want the hold (%v) first", waited, hold)
	}
}

// rawPeer is a protocol connection of the test to a client: it reads
// the client's messages, keepalives, bitfields, haves and extended
// messages left out.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	in   chan pp.Message
}

// dialRaw connects to cl from the address from as a peer of mi that has
// no piece, with the fast extension, and waits until cl unchokes it.
func dialRaw(t *testing.T, cl *torrent.Client, mi *metainfo.MetaInfo, from string) *rawPeer {
	t.Helper()
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	var id [20]byte
	rand.Read(id[:])
	ih := mi.HashInfoBytes()
	conn, err := dialer.Dial("tcp", cl.ListenAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := pp.Handshake(t.Context(), conn, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast)); err != nil {
		t.Fatalf("handshake from %s: %v", from, err)
	}
	p := &rawPeer{t: t, conn: conn, in: make(chan pp.Message, 64)}
	go func() {
		defer close(p.in)
		d := pp.Decoder{R: bufio.NewReader(conn), MaxLength: 1 << 20}
		for {
			var m pp.Message
			if d.Decode(&m) != nil {
				return
			}
			switch {
			case m.Keepalive, m.Type == pp.Bitfield, m.Type == pp.HaveAll, m.Type == pp.HaveNone,
				m.Type == pp.Have, m.Type == pp.Extended, m.Type == pp.AllowedFast, m.Type == pp.Port:
				continue
			}
			p.in <- m
		}
	}()
	p.send(pp.Message{Type: pp.HaveNone})
	p.send(pp.Message{Type: pp.Interested})
	if m := p.next(5 * time.Second); m.Type != pp.Unchoke {
		t.Fatalf("%s: got %v, want the client to unchoke it", from, m.Type)
	}
	return p
}

func (p *rawPeer) send(m pp.Message) {
	if _, err := p.conn.Write(m.MustMarshalBinary()); err != nil {
		p.t.Fatal(err)
	}
}

// next returns the next message within d, or a keepalive when none
// came.
func (p *rawPeer) next(d time.Duration) pp.Message {
	select {
	case m, ok := <-p.in:
		if !ok {
			p.t.Fatal("the client closed the connection")
		}
		return m
	case <-time.After(d):
		return pp.Message{Keepalive: true}
	}
}
