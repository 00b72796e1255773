package agent

import (
	"testing"
	"time"

	"github.com/anacrolix/torrent"
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
	var peers []*rawPeer
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		p := dialRaw(t, seed, mi, from, func(int) bool { return false })
		p.interested()
		peers = append(peers, p)
	}
	a, b, c := peers[0], peers[1], peers[2]

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
