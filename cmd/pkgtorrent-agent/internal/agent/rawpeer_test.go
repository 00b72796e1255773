package agent

import (
	"bufio"
	"crypto/rand"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// rawPeer is a protocol connection of the test to a client: it counts
// the have messages it reads, and hands the test the messages a
// requester waits for (choke, unchoke, piece, reject).
type rawPeer struct {
	t     *testing.T
	conn  net.Conn
	in    chan pp.Message
	haves atomic.Int32
	done  chan struct{}
}

// dialRaw connects to cl from the address from (an address of its own:
// the engine limits how fast it accepts connections from one address)
// as a peer of mi with the fast extension that has the pieces has says,
// and sends its bitfield. The engine may close a connection during the
// handshake now and then: tried again.
func dialRaw(t *testing.T, cl *torrent.Client, mi *metainfo.MetaInfo, from string, has func(int) bool) *rawPeer {
	t.Helper()
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	var id [20]byte
	rand.Read(id[:])
	ih := mi.HashInfoBytes()
	var conn net.Conn
	for try := 0; ; try++ {
		conn, err = dialer.Dial("tcp", cl.ListenAddrs()[0].String())
		if err == nil {
			_, err = pp.Handshake(t.Context(), conn, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast))
		}
		if err == nil {
			break
		}
		if conn != nil {
			conn.Close()
		}
		if try == 4 {
			t.Fatalf("handshake from %s: %v", from, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := &rawPeer{t: t, conn: conn, in: make(chan pp.Message, 64), done: make(chan struct{})}
	t.Cleanup(p.close)
	go func() {
		defer close(p.done)
		defer close(p.in)
		d := pp.Decoder{R: bufio.NewReader(conn), MaxLength: 1 << 20}
		for {
			var m pp.Message
			if d.Decode(&m) != nil {
				return
			}
			switch {
			case m.Keepalive:
			case m.Type == pp.Have:
				p.haves.Add(1)
			case m.Type == pp.Choke, m.Type == pp.Unchoke, m.Type == pp.Piece, m.Type == pp.Reject:
				p.in <- m
			}
		}
	}()
	bf := pp.Message{Type: pp.Bitfield, Bitfield: make([]bool, info.NumPieces())}
	for i := range bf.Bitfield {
		bf.Bitfield[i] = has(i)
	}
	p.send(bf)
	return p
}

func (p *rawPeer) send(m pp.Message) {
	if _, err := p.conn.Write(m.MustMarshalBinary()); err != nil {
		p.t.Fatal(err)
	}
}

// interested says the peer is interested and waits until the client
// unchokes it.
func (p *rawPeer) interested() {
	p.t.Helper()
	p.send(pp.Message{Type: pp.Interested})
	if m := p.next(5 * time.Second); m.Type != pp.Unchoke {
		p.t.Fatalf("got %v, want the client to unchoke an interested peer", m.Type)
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

// close ends the connection and waits until every message it read is
// counted.
func (p *rawPeer) close() {
	p.conn.Close()
	go func() {
		for range p.in {
		}
	}()
	<-p.done
}
