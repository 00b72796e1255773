package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// wantAddrKey is addrKey computed with the standard library's FNV-1a.
func wantAddrKey(a netip.AddrPort, ih metainfo.Hash) uint64 {
	h := fnv.New64a()
	b := a.Addr().As16()
	h.Write(b[:])
	h.Write(binary.BigEndian.AppendUint16(nil, a.Port()))
	h.Write(ih[:])
	return h.Sum64()
}

// TestMemberView: opentracker lists the hosts that announced a torrent;
// the fill's announce as one of them (its peer ID and port) ranks among
// the others and knows itself by the address its connection came from,
// and the tracker still counts the hosts it counted (the fill's announce
// updates the host's entry, it adds none).
func TestMemberView(t *testing.T) {
	var ih metainfo.Hash
	copy(ih[:], "an info hash, 20 B..")
	port := e2e.Port(t)
	e2e.StartOpentracker(t, e2e.Node{}, port, []string{ih.HexString()})
	announce := e2e.Announce(port)
	ports := []int{e2e.Port(t), e2e.Port(t), e2e.Port(t)}
	ids := make([][20]byte, len(ports))
	for k, p := range ports {
		copy(ids[k][:], fmt.Sprintf("-TEST00-host%d.......", k))
		u, ok := announceURL(announce, ih, ids[k], p, 100, "started")
		if !ok {
			t.Fatalf("no announce URL for %s", announce)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("announce: %s", resp.Status)
		}
	}
	s := &Swarm{trackers: http.DefaultClient, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	v := s.memberView(context.Background(), []string{"udp://127.0.0.1:9/announce", announce}, ih, ids[1], ports[1], 100)
	if v == nil {
		t.Fatal("memberView = nil: the tracker answered")
	}
	loopback := netip.MustParseAddr("127.0.0.1")
	if want := wantAddrKey(netip.AddrPortFrom(loopback, uint16(ports[1])), ih); v.me != want {
		t.Errorf("own key %x, want %x (127.0.0.1:%d)", v.me, want, ports[1])
	}
	want := []uint64{wantAddrKey(netip.AddrPortFrom(loopback, uint16(ports[0])), ih), wantAddrKey(netip.AddrPortFrom(loopback, uint16(ports[2])), ih)}
	got := slices.Clone(v.others)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("others' keys %x, want %x (ports %d and %d)", got, want, ports[0], ports[2])
	}
	if n := s.swarmSize(context.Background(), []string{announce}, ih); n != len(ports) {
		t.Errorf("the tracker counts %d hosts after the fill's announce, want %d", n, len(ports))
	}
	if v.seeds != 0 {
		t.Errorf("%d seeds before any host completed, want 0", v.seeds)
	}
	// A host that completes tells the tracker; the next view counts it
	// as a seed.
	s.announceCompleted(context.Background(), []string{announce}, ih, ids[2], ports[2])
	if v := s.memberView(context.Background(), []string{announce}, ih, ids[1], ports[1], 100); v == nil || v.seeds != 1 || len(v.others) != 2 {
		t.Errorf("after one host completed: view %+v, want 1 seed and 2 others", v)
	}
	if v := s.memberView(context.Background(), []string{"udp://127.0.0.1:9/announce", "http://127.0.0.1:9/announce"}, ih, ids[1], ports[1], 100); v != nil {
		t.Errorf("memberView with no tracker answering = %+v, want nil", v)
	}
}

// TestAnnounceURL: the members' announce asks for numWant peers; one
// with an event only tells (numwant=0); the tracker's own parameters
// follow; a UDP tracker has none.
func TestAnnounceURL(t *testing.T) {
	var ih metainfo.Hash
	var id [20]byte
	for _, c := range []struct{ event, numwant string }{{"", "200"}, {"completed", "0"}, {"stopped", "0"}} {
		u, ok := announceURL("http://127.0.0.1:6969/announce?key=k", ih, id, 6881, 5, c.event)
		if !ok {
			t.Fatalf("announceURL(%q): not an HTTP tracker", c.event)
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := pu.Query()
		if q.Get("numwant") != c.numwant || q.Get("event") != c.event || q.Get("key") != "k" || q.Get("port") != "6881" || q.Get("left") != "5" {
			t.Errorf("announceURL(%q) = %s; want numwant=%s, the event, port 6881, left 5 and key=k", c.event, u, c.numwant)
		}
	}
	if u, ok := announceURL("udp://127.0.0.1:6969/announce", ih, id, 6881, 5, ""); ok {
		t.Errorf("announceURL of a UDP tracker = %s, want none", u)
	}
}

// TestParseAnnounce: the compact forms of IPv4 (BEP 23) and IPv6 (BEP 7)
// peers, the list of dictionaries, a partial entry, and errors.
func TestParseAnnounce(t *testing.T) {
	for _, c := range []struct {
		answer string
		want   []string
		err    bool
	}{
		{"d8:completei2e8:intervali60e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e", []string{"127.0.0.1:6881", "10.0.0.2:80"}, false},
		{"d5:peers8:\x7f\x00\x00\x01\x1a\xe1\x0a\x00e", []string{"127.0.0.1:6881"}, false},
		{"d5:peers0:6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e", []string{"[::1]:6881"}, false},
		{"d5:peersld2:ip8:10.0.0.34:porti6881eed2:ip3:bad4:porti1eed2:ip8:10.0.0.44:porti0eeee", []string{"10.0.0.3:6881"}, false},
		{"d14:failure reason9:not knowne", nil, true},
		{"d5:peersi3ee", nil, true},
		{"not bencode", nil, true},
	} {
		got, err := parseAnnounce([]byte(c.answer))
		var s []string
		for _, a := range got.peers {
			s = append(s, a.String())
		}
		if (err != nil) != c.err || !slices.Equal(s, c.want) {
			t.Errorf("parseAnnounce(%q) = %v, %v; want %v, error %v", c.answer, s, err, c.want, c.err)
		}
	}
}

// TestTurnsFor: the patience doubles for a host that ranks among more
// hosts than it is connected to, and the wait for a swarm that holds the
// pieces applies when the trackers count a seed, or when its peers, fewer
// than the hosts listed, hold pieces; neither for a host connected to
// none.
func TestTurnsFor(t *testing.T) {
	const patience, hold = time.Second, 2500 * time.Millisecond
	some := roaring.BitmapOf(3)
	for _, c := range []struct {
		name         string
		others       int
		seeds        int
		haves        []*roaring.Bitmap
		wantPatience time.Duration
		wantHold     time.Duration
	}{
		{"connected to all, none has a piece", 2, 0, []*roaring.Bitmap{roaring.New(), roaring.New()}, patience, 0},
		{"connected to all, one has a piece", 2, 0, []*roaring.Bitmap{roaring.New(), some}, patience, 0},
		{"connected to all, a seed counted", 2, 1, []*roaring.Bitmap{roaring.New(), roaring.New()}, patience, hold},
		{"connected to some, none has a piece", 39, 0, []*roaring.Bitmap{roaring.New(), roaring.New()}, 2 * patience, 0},
		{"connected to some, one has a piece", 39, 0, []*roaring.Bitmap{roaring.New(), some}, 2 * patience, hold},
		// A seed counted that no host connected to: gone, or out of
		// reach (TestFleetCorruptStore: the agent itself before its
		// restart, on another port).
		{"connected to none, a seed counted", 1, 1, nil, patience, 0},
		{"connected to none, others listed", 39, 0, nil, patience, 0},
	} {
		v := &rankView{others: make([]uint64, c.others), seeds: c.seeds}
		p, h := turnsFor(v, c.haves, patience, hold)
		if p != c.wantPatience || h != c.wantHold {
			t.Errorf("%s: patience %v, hold %v; want %v, %v", c.name, p, h, c.wantPatience, c.wantHold)
		}
	}
}

// TestPickOwnAmongMembers: a host ranking among hosts it is not
// connected to leaves the pieces they rank first for to them, and takes
// those it ranks first for at once; of the others, none before a
// patience.
func TestPickOwnAmongMembers(t *testing.T) {
	const n, patience = 64, time.Second
	keys := fleetKeys(4)
	t0 := time.Now()
	left := map[int]time.Time{}
	done := make([]bool, n)
	complete := func(i int) bool { return done[i] }
	var mine []int
	for {
		i := pickOwn(n, complete, noPeerHas, keys[0], keys[1:], 0, 0, left, patience, t0)
		if i < 0 {
			break
		}
		mine = append(mine, i)
		done[i] = true
	}
	for i := range n {
		top := 0
		for j := range keys {
			if rank(keys[j], i) > rank(keys[top], i) {
				top = j
			}
		}
		if (top == 0) != slices.Contains(mine, i) {
			t.Errorf("piece %d: ranked first by host %d, taken at once: %v", i, top, slices.Contains(mine, i))
		}
	}
	// The pieces this host ranks second for: none before a patience, the
	// first of them (its first-ranked host's first) after one.
	var second []int
	for i := range n {
		if done[i] {
			continue
		}
		r := 0
		for j := 1; j < len(keys); j++ {
			if rank(keys[j], i) > rank(keys[0], i) {
				r++
			}
		}
		if r == 1 {
			second = append(second, i)
		}
	}
	if len(second) < 2 {
		t.Fatalf("only %d pieces this host ranks second for", len(second))
	}
	at := func(d time.Duration) int {
		return pickOwn(n, complete, noPeerHas, keys[0], keys[1:], 0, 0, left, patience, t0.Add(d))
	}
	if i := at(patience - time.Millisecond); i >= 0 {
		t.Errorf("piece %d taken before a patience", i)
	}
	if i := at(patience); i < 0 {
		t.Errorf("no piece taken after a patience; this host ranks second for %v", second)
	}
}

// TestMemberViewBound: a tracker that lists more than numWant hosts
// gives a view of numWant; a tracker's answer past maxAnnounce is not
// read whole (an error, not a view of part of it).
func TestMemberViewBound(t *testing.T) {
	var ih metainfo.Hash
	copy(ih[:], "an info hash, 20 B..")
	serve := func(peers int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b []byte
			for i := range peers {
				b = append(b, 10, byte(i>>16), byte(i>>8), byte(i), 0x1a, 0xe1)
			}
			fmt.Fprintf(w, "d8:completei0e5:peers%d:%se", len(b), b)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	s := &Swarm{trackers: http.DefaultClient, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var id [20]byte
	if v := s.memberView(context.Background(), []string{serve(300).URL + "/announce"}, ih, id, 6881, 1); v == nil || len(v.others) != numWant {
		t.Errorf("300 listed: view %v, want %d others", v, numWant)
	}
	if v := s.memberView(context.Background(), []string{serve(maxAnnounce/6+1).URL + "/announce"}, ih, id, 6881, 1); v != nil {
		t.Errorf("an answer past %d bytes: view of %d others, want none", maxAnnounce, len(v.others))
	}
}

// TestLeaveSwarm: an agent that closes tells the tracker it leaves; the
// members another host ranks among no longer hold it. Before, the tracker
// listed it until its entry timed out (opentracker: tens of minutes), and
// the others waited a turn for each piece it ranked first for.
func TestLeaveSwarm(t *testing.T) {
	root := t.TempDir()
	name := "leave-1-1.noarch.rpm"
	want := writeRandom(t, root, pkgDir+name, 1<<20+3)
	m, _ := startTrackedMirror(t, root, nil, name)
	u := m.base + "/" + pkgDir + name
	patient := func(c *settings.Config) { c.Stall = 30 * time.Second }
	a := startAgent(t, t.TempDir(), []string{m.base}, patient)
	b := startAgent(t, t.TempDir(), []string{m.base}, patient)
	getWhole(t, "agent a", a.url(u), want)
	getWhole(t, "agent b", b.url(u), want)
	var trackers []string
	var ih metainfo.Hash
	b.swarm.mu.Lock()
	for h, it := range b.swarm.items {
		ih, trackers = h, it.trackers
	}
	b.swarm.mu.Unlock()
	view := func() *rankView {
		return b.swarm.memberView(context.Background(), trackers, ih, b.swarm.cl.PeerID(), b.swarm.cl.LocalPort(), 0)
	}
	// Agent a is listed once its engine announced.
	aKey := wantAddrKey(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(a.swarm.PeerPort())), ih)
	waitFor(t, "agent a among b's members", func() bool {
		v := view()
		return v != nil && slices.Contains(v.others, aKey)
	})
	a.stop()
	if v := view(); v == nil || slices.Contains(v.others, aKey) {
		t.Errorf("after agent a closed, b's members %+v; want a (key %x) gone", v, aKey)
	}
	// A tracker that accepts and never answers holds Close for leaveWait
	// at most (the trackers' client alone would wait 15 s for headers).
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	b.swarm.mu.Lock()
	for _, it := range b.swarm.items {
		it.trackers = []string{"http://" + hole.Addr().String() + "/announce"}
	}
	b.swarm.mu.Unlock()
	start := time.Now()
	b.stop()
	if took := time.Since(start); took > leaveWait+5*time.Second {
		t.Errorf("Close with a tracker that never answers took %v, want at most %v and the engine's close", took, leaveWait)
	}
}
