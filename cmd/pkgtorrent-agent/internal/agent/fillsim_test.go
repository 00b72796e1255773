package agent

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"github.com/RoaringBitmap/roaring"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// The fill's model: N hosts that start one torrent, their connections as
// the tracker and the engine make them, pieces going from host to
// connected host, each host's fill (fill.go) deciding with the agent's
// own pickOwn, turnsFor, rankKey and patienceFor which pieces it fetches
// from the mirror, and each host's request (reader.go) falling back to
// the mirror when the torrent stalls. Time is simulated, event by event;
// the model's figure is the mirror's copies: the bytes the mirror sent
// for the torrent over its size. This file holds the run and the
// tracker; fillsim_peers_test.go the connections and the pieces between
// peers; fillsim_fill_test.go the request, the fill and the mirror;
// fillsim_table_test.go the scenarios. TestFillSim runs it; the table
// it prints with -fillsim.table is in cmd/pkgtorrent-bench/README.md,
// with what the model leaves out.

// simConfig is one run of the model.
type simConfig struct {
	Hosts  int
	Pieces int
	// PieceLength is every piece's length; LastPiece the last one's
	// (0: PieceLength).
	PieceLength, LastPiece int64
	// Arrival: the hosts start the torrent at times spread uniformly
	// over [0, Arrival).
	Arrival time.Duration
	// NumWant is the most peers the tracker returns to an announce; it
	// returns a uniform random subset of the hosts that announced.
	NumWant int
	// TrackerRTT is the time from an announce to its answer; DialTime
	// the time from a dial to the end of the handshake.
	TrackerRTT, DialTime time.Duration
	// MirrorRate is the mirror's bytes a second for this torrent, shared
	// evenly by the transfers at once (fetches of pieces and streams of
	// requests that fell back).
	MirrorRate float64
	// PeerRate is a host's upload, bytes a second: it sends one piece at
	// a time, in the order they were asked for; PeerLatency is added to
	// each.
	PeerRate    float64
	PeerLatency time.Duration
	// Swarm is the policy: whether a host's fill counts, besides its
	// connected peers, the hosts the tracker counts in the swarm when
	// the fill's connections settled (its scrape; fill.go's swarmSize)
	// and that it is not connected to (pickOwn's unseen); false: the
	// connected peers only, the agent's rule before the policy.
	Swarm bool
	// SwarmAtAnnounce takes, with Swarm, the tracker's count at the
	// host's announce instead (older for the hosts that start first).
	SwarmAtAnnounce bool
	// Members: a host's fill ranks among the hosts the tracker lists to
	// its announce when its connections settled, asked again when older
	// than membersAge before it fetches a piece of its own (fill.go's
	// members), not among its connected peers.
	Members bool
	// Settings are the agent's (peers-per-torrent, origin-after, stall).
	Settings settings.Config
	// Pace is each host's pace (see nextPace) when the torrent starts;
	// nil: none yet.
	Pace []float64
	Seed uint64
}

// simResult is what a run gives.
type simResult struct {
	// Fill and Fallback are the mirror's copies: pieces fetched by the
	// fills, and bytes streamed to requests that fell back.
	Fill, Fallback float64
	// FellBack counts the hosts whose request fell back.
	FellBack int
	// Last is when the last host had every piece; Unfinished counts the
	// hosts that had not at the horizon (the fleet collapsed: the
	// mirror's fetches time out before they end, and are tried again).
	Last       time.Duration
	Unfinished int
	// Conns is the mean of the hosts' connections when they finished.
	Conns float64
	// Pace is each host's pace at the end.
	Pace []float64
}

// Copies is the mirror's copies in all.
func (r simResult) Copies() float64 { return r.Fill + r.Fallback }

// simEngineHalfOpen and simEngineLowWater are the engine's defaults
// (torrent.NewDefaultClientConfig): half-open connections a torrent
// dials at once, and the known peers below which it announces again
// after a minute instead of after the tracker's interval.
const (
	simEngineHalfOpen = 25
	simEngineLowWater = 50
	simReannounce     = time.Minute
	// simHorizon ends a run that would not: the mirror still busy then
	// means the fleet collapsed (see simResult.Collapsed).
	simHorizon = 10 * time.Minute
)

type simEvent struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type simEvents []*simEvent

func (q simEvents) Len() int { return len(q) }
func (q simEvents) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q simEvents) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simEvents) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simEvents) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// fillSim is one run's state.
type fillSim struct {
	cfg     simConfig
	rng     *rand.Rand
	epoch   time.Time
	now     time.Duration
	seq     uint64
	events  simEvents
	hosts   []*simHost
	tracker []int
	mirror  simMirror
	// fillBytes and fallbackBytes are the mirror's bytes, by cause.
	fillBytes, fallbackBytes float64
	// stopped: the run is over; transfers only count their bytes.
	stopped bool
}

type simConn struct {
	peer     int
	outgoing bool
	since    time.Duration
}

type simHost struct {
	id       int
	key      uint64
	have     *roaring.Bitmap
	missing  int
	complete func(int) bool
	// coming marks the pieces on their way from a peer.
	coming []bool
	conns  []simConn
	// view is the keys of its connected peers, haves their pieces.
	view   []uint64
	haves  []*roaring.Bitmap
	viewOK bool
	// members is the keys of the hosts the tracker listed to the fill
	// (Members), at membersAt.
	members   []uint64
	membersAt time.Duration
	listed    bool
	// seeds is the hosts the tracker counted complete then (a host
	// announces when it completes).
	seeds int
	// pool holds the peers the tracker named and not dialled yet.
	pool     []int
	dialling map[int]bool
	upFree   time.Duration
	// swarm is the hosts the tracker counted for this host's fill (0:
	// not asked).
	swarm int
	done  time.Duration

	// The fill (fill.go).
	peersKnown                   bool
	began                        time.Duration
	settleBegan, settleChanged   time.Duration
	settlePeers                  int
	pace                         float64
	left                         map[int]time.Time
	lastProgress                 time.Duration
	lastMissing                  int
	pick                         []int
	pickK                        int
	inOrder, replan              bool
	fetchJob                     *simJob
	readPos                      int
	readWait, readProgress       time.Duration
	readGen                      int
	fellBack, reading, finishing bool
}

// runFillSim runs the model once.
func runFillSim(cfg simConfig) simResult {
	s := &fillSim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), epoch: time.Unix(1<<30, 0)}
	s.mirror.s = s
	var ih [20]byte
	for i := range ih {
		ih[i] = byte(s.rng.Uint32())
	}
	for h := range cfg.Hosts {
		var id [20]byte
		for i := range id {
			id[i] = byte(s.rng.Uint32())
		}
		x := &simHost{id: h, key: rankKey(id, ih), have: roaring.New(), missing: cfg.Pieces,
			coming: make([]bool, cfg.Pieces), dialling: map[int]bool{}, left: map[int]time.Time{}, done: -1}
		x.complete = func(i int) bool { return x.have.Contains(uint32(i)) }
		if cfg.Pace != nil {
			x.pace = cfg.Pace[h]
		}
		s.hosts = append(s.hosts, x)
		at := time.Duration(0)
		if cfg.Arrival > 0 {
			at = time.Duration(s.rng.Int64N(int64(cfg.Arrival)))
		}
		s.at(at, func() { s.arrive(x) })
	}
	for len(s.events) > 0 {
		e := heap.Pop(&s.events).(*simEvent)
		if e.at > simHorizon {
			break
		}
		s.now = e.at
		e.fn()
	}
	// What the mirror sent of the transfers still running at the
	// horizon.
	s.stopped = true
	s.mirror.advance()
	for _, j := range s.mirror.jobs {
		j.done(s.mirror.v-j.start, false)
	}
	total := float64(s.size())
	r := simResult{Fill: s.fillBytes / total, Fallback: s.fallbackBytes / total}
	conns := 0
	for _, h := range s.hosts {
		if h.fellBack {
			r.FellBack++
		}
		r.Last = max(r.Last, h.done)
		if h.done < 0 {
			r.Last = simHorizon
			r.Unfinished++
		}
		conns += len(h.conns)
		r.Pace = append(r.Pace, h.pace)
	}
	r.Conns = float64(conns) / float64(len(s.hosts))
	return r
}

func (s *fillSim) at(t time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, &simEvent{at: t, seq: s.seq, fn: fn})
}

func (s *fillSim) after(d time.Duration, fn func()) { s.at(s.now+d, fn) }

func (s *fillSim) pieceLen(i int) int64 {
	if i == s.cfg.Pieces-1 && s.cfg.LastPiece > 0 {
		return s.cfg.LastPiece
	}
	return s.cfg.PieceLength
}

func (s *fillSim) size() int64 {
	return int64(s.cfg.Pieces-1)*s.cfg.PieceLength + s.pieceLen(s.cfg.Pieces-1)
}

// arrive starts the torrent on h: the announce, the request that reads
// the file, and the fill.
func (s *fillSim) arrive(h *simHost) {
	s.announce(h)
	h.reading = true
	h.readWait, h.readProgress = s.now, s.now
	s.readerTimer(h)
	h.began = s.now
	s.waitForPeers(h)
}

// announce registers h with the tracker, whose answer comes after
// TrackerRTT: a random subset of the hosts it knows, h left out.
func (s *fillSim) announce(h *simHost) {
	if len(s.tracker) == 0 || s.tracker[len(s.tracker)-1] != h.id {
		known := false
		for _, j := range s.tracker {
			if j == h.id {
				known = true
				break
			}
		}
		if !known {
			s.tracker = append(s.tracker, h.id)
		}
	}
	if s.cfg.SwarmAtAnnounce {
		h.swarm = len(s.tracker)
	}
	peers := s.sample(s.cfg.NumWant)
	s.after(s.cfg.TrackerRTT, func() {
		for _, j := range peers {
			if j != h.id {
				h.pool = append(h.pool, j)
			}
		}
		s.openConns(h)
		s.after(simReannounce, func() {
			if h.done < 0 && len(h.pool) <= simEngineLowWater && len(h.conns) < s.cfg.Settings.PeersPerTorrent {
				s.announce(h)
			}
		})
	})
}

// sample returns up to k hosts the tracker knows, chosen at random.
func (s *fillSim) sample(k int) []int {
	m := len(s.tracker)
	if k >= m {
		return append([]int(nil), s.tracker...)
	}
	if 4*k > m {
		c := append([]int(nil), s.tracker...)
		for i := range k {
			j := i + s.rng.IntN(m-i)
			c[i], c[j] = c[j], c[i]
		}
		return c[:k]
	}
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		j := s.tracker[s.rng.IntN(m)]
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}
