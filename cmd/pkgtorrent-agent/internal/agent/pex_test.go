package agent

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	utHolepunch "github.com/anacrolix/torrent/peer_protocol/ut-holepunch"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestNoPEX: a peer of the swarm sends the agent a PEX message, or a
// ut_holepunch connect message, naming an address on this host (the
// agent's own loopback, where a local service could listen); the agent
// never connects there. A peer, written here with the engine's own
// peer-protocol code, must not be able to make the agent dial addresses
// of its choosing. (Before: the PEX message made the agent dial within
// 2 ms; the holepunch connect, with PEX off, too.)
func TestNoPEX(t *testing.T) {
	root := t.TempDir()
	writeRandom(t, root, pkgDir+"x-1-1.noarch.rpm", 1<<20+9)
	m := startMirror(t, root)
	a := startAgent(t, t.TempDir(), []string{m.base})
	if resp, _ := get(t, a.url(m.base+"/"+pkgDir+"x-1-1.noarch.rpm")); resp.StatusCode != 200 {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	ih := metainfo.NewHashFromHex(a.swarm.Status().Torrents[0].InfoHash)

	// The address the hostile peer names.
	bait, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bait.Close()
	var dialed atomic.Int32
	go func() {
		for {
			c, err := bait.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	baitAddr := netip.MustParseAddrPort(bait.Addr().String())

	for _, tc := range []struct {
		ext     pp.ExtensionName
		guess   pp.ExtensionNumber // the number tried when the agent names none
		payload func() []byte
	}{
		{pp.ExtensionNamePex, 1, func() []byte {
			pex := pp.PexMsg{Added: krpc.CompactIPv4NodeAddrs{krpc.NodeAddr{IP: baitAddr.Addr().AsSlice(), Port: int(baitAddr.Port())}}, AddedFlags: []pp.PexPeerFlags{0}}
			return bencode.MustMarshal(pex)
		}},
		{utHolepunch.ExtensionName, 2, func() []byte {
			b, err := (&utHolepunch.Msg{MsgType: utHolepunch.Connect, AddrPort: baitAddr}).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	} {
		t.Run(string(tc.ext), func(t *testing.T) {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(a.swarm.PeerPort()), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			var ext pp.PeerExtensionBits
			ext.SetBit(pp.ExtensionBitLtep, true)
			var id [20]byte
			copy(id[:], "-XX0001-hostilepeer!")
			if _, err := pp.Handshake(context.Background(), c, &ih, id, ext); err != nil {
				t.Fatalf("handshake with the agent: %v", err)
			}
			send := func(msg pp.Message) {
				t.Helper()
				b, err := msg.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			send(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID,
				ExtendedPayload: bencode.MustMarshal(pp.ExtendedHandshakeMessage{M: map[pp.ExtensionName]pp.ExtensionNumber{tc.ext: 1}})})
			// The agent's extended handshake says which number it reads
			// the extension under, if it reads it at all; an attacker
			// tries a guess otherwise.
			num := tc.guess
			d := pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}
			for {
				var msg pp.Message
				if err := d.Decode(&msg); err != nil {
					t.Fatalf("reading the agent's messages: %v", err)
				}
				if msg.Type == pp.Extended && msg.ExtendedID == pp.HandshakeExtendedID {
					var hs pp.ExtendedHandshakeMessage
					if err := bencode.Unmarshal(msg.ExtendedPayload, &hs); err != nil {
						t.Fatal(err)
					}
					if n, ok := hs.M[tc.ext]; ok && n != 0 {
						num = n
					}
					break
				}
			}
			send(pp.Message{Type: pp.Extended, ExtendedID: num, ExtendedPayload: tc.payload()})
			// The engine dialed such an address within milliseconds; wait
			// well past that.
			time.Sleep(2 * time.Second)
			if n := dialed.Load(); n != 0 {
				t.Errorf("after a peer's %s message the agent connected %d times to the address it named", tc.ext, n)
			}
		})
	}
}

// handshakeWith dials the agent's peer port from the local address from
// and tries a plain BitTorrent handshake for ih, as a peer would.
func handshakeWith(t *testing.T, a *agent, from string, ih metainfo.Hash) error {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(a.swarm.PeerPort()))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var id [20]byte
	copy(id[:], "-XX0001-probingpeer!")
	_, err = pp.Handshake(context.Background(), c, &ih, id, pp.PeerExtensionBits{})
	return err
}

// TestPeerNetworks: with peer-network set, a peer from outside those
// networks cannot connect (127.0.0.2, where 127.0.0.0/31 is allowed),
// one from inside can; with encryption = require, a plain handshake is
// refused even from inside.
func TestPeerNetworks(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("no 127.0.0.2 on this machine's loopback: %v", err)
	} else {
		l.Close()
	}
	root := t.TempDir()
	writeRandom(t, root, pkgDir+"n-1-1.noarch.rpm", 1<<20+3)
	m := startMirror(t, root)
	for _, tc := range []struct {
		name       string
		encryption string
		from       string
		ok         bool
	}{
		{"inside", "prefer", "127.0.0.1", true},
		{"outside", "prefer", "127.0.0.2", false},
		{"plain-refused", "require", "127.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, t.TempDir(), []string{m.base}, func(c *settings.Config) {
				c.PeerNetworks = []string{"127.0.0.0/31"}
				c.Encryption = tc.encryption
			})
			if resp, _ := get(t, a.url(m.base+"/"+pkgDir+"n-1-1.noarch.rpm")); resp.StatusCode != 200 {
				t.Fatalf("download: %d", resp.StatusCode)
			}
			ih := metainfo.NewHashFromHex(a.swarm.Status().Torrents[0].InfoHash)
			err := handshakeWith(t, a, tc.from, ih)
			if tc.ok && err != nil {
				t.Errorf("a peer at %s: handshake failed (%v), want it accepted", tc.from, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("a peer at %s with a plain handshake was accepted, want it refused", tc.from)
			}
		})
	}
}
