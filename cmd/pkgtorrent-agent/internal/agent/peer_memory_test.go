package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// hog is a peer that queues every block request the agent takes (1024)
// and never reads the answers, from local address from, with a 4 KiB
// receive buffer: what an attacker does to make the agent hold data. It
// returns the connection, open, once its requests are sent; an error
// when the agent refused it.
func hog(from string, port int, ih metainfo.Hash, size int64) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var err error
			rc.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return err
		},
	}
	c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var id [20]byte
	rand.Read(id[:])
	if _, err := pp.Handshake(context.Background(), c, &ih, id, pp.PeerExtensionBits{}); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if _, err := c.Write(pp.Message{Type: pp.Interested}.MustMarshalBinary()); err != nil {
		return nil, err
	}
	dec := pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}
	for {
		var msg pp.Message
		if err := dec.Decode(&msg); err != nil {
			return nil, fmt.Errorf("waiting for unchoke: %w", err)
		}
		if msg.Type == pp.Unchoke {
			break
		}
	}
	const block = 16 << 10
	var reqs []byte
	for off := int64(0); off+block <= size && len(reqs) < 1024*17; off += block {
		reqs = append(reqs, pp.Message{Type: pp.Request, Index: pp.Integer(off / (1 << 20)),
			Begin: pp.Integer(off % (1 << 20)), Length: block}.MustMarshalBinary()...)
	}
	if _, err := c.Write(reqs); err != nil {
		return nil, err
	}
	c.SetDeadline(time.Time{})
	ok = true
	return c, nil
}

// agentStatus is the agent process's /status.
func agentStatus(t *testing.T, a *fleet.Agent) Status {
	t.Helper()
	st, err := statusAt(a.Base)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPeerMemoryBound: 200 peer connections that request every block
// they may and never read, from one address and from 200, while dnf's
// downloads go on through the same agent. The agent (the shipped build,
// a process of its own) holds at most 128 KiB of read data per
// connection and refuses connections past peer-conns-per-address; its
// peak RSS stays under 256 MiB, and the download still comes whole from
// the mirror without falling back. With 16 MiB per connection, which
// the engine needed before its requests were read in order, 200 such
// connections took gigabytes.
func TestPeerMemoryBound(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.201:0"); err != nil {
		t.Skipf("no 127.0.0.201 on this machine's loopback: %v", err)
	} else {
		l.Close()
	}
	root := t.TempDir()
	const size = 17 << 20 // more than 1024 blocks
	big := writeRandom(t, root, pkgDir+"big-1-1.noarch.rpm", size)
	m := startMirror(t, root)
	// One torrent takes them all: the engine's own bound per torrent
	// (peers-per-torrent) would otherwise refuse most of them.
	a := fleet.StartAgent(t, fleet.AgentBinary(t, false), "agent", "", []string{m.base},
		"-peers-per-torrent", "300", "-log-level", "info")
	getWhole(t, "the agent", repos.AgentURL(a.Base, m.base+"/"+pkgDir+"big-1-1.noarch.rpm"), big)
	st := agentStatus(t, a)
	if len(st.Torrents) != 1 {
		t.Fatalf("status: %d torrents, want 1", len(st.Torrents))
	}
	ih := metainfo.NewHashFromHex(st.Torrents[0].InfoHash)

	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	defer closeAll()
	attack := func(from func(i int) string) (served int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				c, err := hog(from(i), st.PeerPort, ih, size)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					conns = append(conns, c)
					served++
				}
			})
		}
		wg.Wait()
		return served
	}
	if n := attack(func(int) string { return "127.0.0.1" }); n == 0 || n > 64 {
		t.Errorf("from one address: %d of 200 connections served, want 1 to 64 (peer-conns-per-address)", n)
	}
	if st := agentStatus(t, a); st.PeerConnsRefused < 200-64 {
		t.Errorf("/status: peer_conns_refused %d, want at least the %d connections past peer-conns-per-address", st.PeerConnsRefused, 200-64)
	}
	closeAll()
	// Nearly all: on a loaded machine a handshake can miss the engine's
	// 4 s deadline.
	if n := attack(func(i int) string { return "127.0.0." + strconv.Itoa(2+i) }); n < 190 {
		t.Errorf("from 200 addresses: %d of 200 connections served, want them all but a few (peer-conns is 512)", n)
	}
	// The agent reads what it holds for them at once; wait until its
	// uploads stop moving.
	up := int64(-1)
	e2e.Wait(t, "the agent's uploads to settle", 30*time.Second, func() error {
		n := agentStatus(t, a).Totals.Uploaded
		if n != up {
			up = n
			time.Sleep(time.Second)
			return fmt.Errorf("uploaded %d", n)
		}
		return nil
	}, a.Proc)

	// A download on the same host meanwhile.
	want := writeRandom(t, root, pkgDir+"next-1-1.noarch.rpm", 8<<20+5)
	before := agentStatus(t, a).Totals
	getWhole(t, "the agent under attack", repos.AgentURL(a.Base, m.base+"/"+pkgDir+"next-1-1.noarch.rpm"), want)
	after := agentStatus(t, a).Totals
	if d := after.FromOrigin - before.FromOrigin; d != int64(len(want)) || after.FromFallback != before.FromFallback {
		t.Errorf("the download under attack: %d bytes from the mirror, %d by fallback; want all %d from the mirror through the torrent",
			d, after.FromFallback-before.FromFallback, len(want))
	}
	rss := e2e.PeakRSS(t, a.Proc.Cmd.Process.Pid)
	t.Logf("%d hostile connections held; the agent uploaded %d MiB to them; peak RSS %d MiB", len(conns), up>>20, rss>>20)
	if rss >= 256<<20 {
		t.Errorf("peak RSS %d MiB, want under 256 MiB", rss>>20)
	}
}

// TestHalfOpenBound: 300 connections to the peer port from 250
// addresses that never send a handshake. With peer-conns = 100, the agent
// keeps at most 100 of them open (it closes the others as it accepts
// them, before reading), so its descriptors stay bounded.
func TestHalfOpenBound(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.251:0"); err != nil {
		t.Skipf("no 127.0.0.251 on this machine's loopback: %v", err)
	} else {
		l.Close()
	}
	// An agent with a torrent: one without any refuses every connection.
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"h-1-1.noarch.rpm", 1<<20+7)
	m := startMirror(t, root)
	a := fleet.StartAgent(t, fleet.AgentBinary(t, false), "agent", "", []string{m.base}, "-peer-conns", "100", "-log-level", "info")
	getWhole(t, "the agent", repos.AgentURL(a.Base, m.base+"/"+pkgDir+"h-1-1.noarch.rpm"), want)
	pid := a.Proc.Cmd.Process.Pid
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	port := agentStatus(t, a).PeerPort
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 300 {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0." + strconv.Itoa(2+i%250))}}
		c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Those past the bound are closed as they are accepted, which a read
	// sees at once; the others wait for a handshake (the engine gives up
	// after 4 s).
	time.Sleep(500 * time.Millisecond)
	during := fds()
	var open atomic.Int32
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && os.IsTimeout(err) {
				open.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("descriptors %d before, %d with 300 silent connections; %d of them left open", before, during, open.Load())
	if open := open.Load(); open > 100 || open < 50 {
		t.Errorf("%d silent connections left open, want at most peer-conns (100), and most of those", open)
	}
	if during-before > 100+10 {
		t.Errorf("the agent holds %d more descriptors with 300 silent connections, want at most about peer-conns (100)", during-before)
	}
}
