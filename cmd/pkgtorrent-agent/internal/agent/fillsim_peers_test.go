package agent

import (
	"time"

	"github.com/RoaringBitmap/roaring"
)

// The connections, as the engine (third_party/torrent) makes them: at
// most peers-per-torrent established, at most maxHalfOpen dialled at
// once; when full, a new connection replaces one whose direction has
// more than one connection above the other's, or one older than a
// minute (worstBadConn).

func (h *simHost) outgoing() int {
	n := 0
	for _, c := range h.conns {
		if c.outgoing {
			n++
		}
	}
	return n
}

func (h *simHost) connected(j int) bool {
	for _, c := range h.conns {
		if c.peer == j {
			return true
		}
	}
	return false
}

// victim returns the index in h.conns of the connection the engine
// would drop for a new one (-1: none): one of the direction that is
// bad, or else the oldest of those older than a minute.
func (s *fillSim) victim(h *simHost, incomingIsBad, outgoingIsBad bool) int {
	var bad []int
	oldest := -1
	for k, c := range h.conns {
		if incomingIsBad && !c.outgoing || outgoingIsBad && c.outgoing {
			bad = append(bad, k)
		}
		if s.now-c.since > time.Minute && (oldest < 0 || c.since < h.conns[oldest].since) {
			oldest = k
		}
	}
	if len(bad) > 0 {
		return bad[s.rng.IntN(len(bad))]
	}
	return oldest
}

// room returns whether h takes a connection of that direction, and the
// connection it drops for it (-1: none).
func (s *fillSim) room(h *simHost, outgoing bool) (bool, int) {
	if len(h.conns) < s.cfg.Settings.PeersPerTorrent {
		return true, -1
	}
	out := h.outgoing()
	in := len(h.conns) - out
	v := s.victim(h, in-out > 1 && outgoing, out-in > 1 && !outgoing)
	return v >= 0, v
}

func (s *fillSim) maxHalfOpen(h *simHost) int {
	m := s.cfg.Settings.PeersPerTorrent
	in := len(h.conns) - h.outgoing()
	return min(max(5, in-m/2)+m-len(h.conns), simEngineHalfOpen)
}

// openConns dials peers of h's pool while the engine would.
func (s *fillSim) openConns(h *simHost) {
	for len(h.pool) > 0 && len(h.dialling) < s.maxHalfOpen(h) {
		if ok, _ := s.room(h, true); !ok {
			return
		}
		k := s.rng.IntN(len(h.pool))
		j := h.pool[k]
		h.pool[k] = h.pool[len(h.pool)-1]
		h.pool = h.pool[:len(h.pool)-1]
		if h.connected(j) || h.dialling[j] {
			continue
		}
		h.dialling[j] = true
		s.after(s.cfg.DialTime, func() { s.dialled(h, s.hosts[j]) })
	}
}

// dialled ends h's handshake with j: both take the connection if they
// have room, dropping another for it when the engine would.
func (s *fillSim) dialled(h, j *simHost) {
	delete(h.dialling, j.id)
	if !h.connected(j.id) {
		okJ, vJ := s.room(j, false)
		okH, vH := s.room(h, true)
		if okJ && okH {
			if vJ >= 0 {
				s.disconnect(j, j.conns[vJ].peer)
			}
			if vH >= 0 && vH < len(h.conns) && !(vJ >= 0 && h.conns[vH].peer == j.id) {
				s.disconnect(h, h.conns[vH].peer)
			}
			if len(h.conns) < s.cfg.Settings.PeersPerTorrent && len(j.conns) < s.cfg.Settings.PeersPerTorrent {
				s.connect(h, j)
			}
		}
	}
	s.openConns(h)
}

func (s *fillSim) connect(h, j *simHost) {
	h.conns = append(h.conns, simConn{j.id, true, s.now})
	j.conns = append(j.conns, simConn{h.id, false, s.now})
	h.viewOK, j.viewOK = false, false
	s.askAll(h, j)
	s.askAll(j, h)
}

// disconnect closes the connection of h and peer j on both ends; each
// dials again.
func (s *fillSim) disconnect(h *simHost, j int) {
	drop := func(x *simHost, peer int) {
		for k, c := range x.conns {
			if c.peer == peer {
				x.conns = append(x.conns[:k], x.conns[k+1:]...)
				break
			}
		}
		x.viewOK = false
	}
	drop(h, j)
	drop(s.hosts[j], h.id)
	s.openConns(s.hosts[j])
}

// peerViews is h's connected peers as pickOwn sees them: their keys and
// their pieces.
func (h *simHost) peerViews(s *fillSim) ([]uint64, []*roaring.Bitmap) {
	if !h.viewOK {
		h.view, h.haves = h.view[:0], h.haves[:0]
		for _, c := range h.conns {
			p := s.hosts[c.peer]
			h.view = append(h.view, p.key)
			h.haves = append(h.haves, p.have)
		}
		h.viewOK = true
	}
	return h.view, h.haves
}

// listMembers has h ask the tracker for the swarm's members (Members).
func (s *fillSim) listMembers(h *simHost) {
	h.members, h.membersAt, h.listed, h.seeds = h.members[:0], s.now, true, 0
	for _, j := range s.tracker {
		if s.hosts[j].done >= 0 {
			h.seeds++
		}
	}
	for _, j := range s.sample(s.cfg.NumWant) {
		if j != h.id {
			h.members = append(h.members, s.hosts[j].key)
		}
	}
}

// Pieces between peers.

// askAll has h ask j for every piece j has that h lacks and is not
// getting already.
func (s *fillSim) askAll(h, j *simHost) {
	for i := range s.cfg.Pieces {
		if j.complete(i) {
			s.ask(h, j, i)
		}
	}
}

// ask has h get piece i from j, if h lacks it and is not getting it
// already: j sends it once the pieces asked of it before are sent.
func (s *fillSim) ask(h, j *simHost, i int) {
	if h.complete(i) || h.coming[i] {
		return
	}
	h.coming[i] = true
	start := max(s.now, j.upFree)
	j.upFree = start + time.Duration(float64(s.pieceLen(i))/s.cfg.PeerRate*float64(time.Second))
	s.at(j.upFree+s.cfg.PeerLatency, func() {
		h.coming[i] = false
		s.got(h, i)
	})
}

// got records that h has piece i; its connected peers ask for it.
func (s *fillSim) got(h *simHost, i int) {
	if h.complete(i) {
		return
	}
	h.have.Add(uint32(i))
	h.missing--
	if h.missing == 0 {
		h.done = s.now
	}
	s.readerProgress(h)
	for _, c := range h.conns {
		s.ask(s.hosts[c.peer], h, i)
	}
}
