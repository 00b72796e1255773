package agent

import (
	"container/heap"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring"
)

// The request (reader.go): it reads the pieces in order, and streams the
// rest from the mirror when the torrent makes no progress for stall and
// origin-after, or its next piece does not come for 4 x stall.

func (s *fillSim) readerProgress(h *simHost) {
	if !h.reading {
		return
	}
	h.readProgress = s.now
	if h.complete(h.readPos) {
		for h.readPos < s.cfg.Pieces && h.complete(h.readPos) {
			h.readPos++
		}
		h.readWait = s.now
	}
	if h.readPos == s.cfg.Pieces {
		h.reading = false
		return
	}
	s.readerTimer(h)
}

func (s *fillSim) readerTimer(h *simHost) {
	h.readGen++
	gen := h.readGen
	stall := s.cfg.Settings.Stall
	s.at(min(h.readProgress+stall+s.cfg.Settings.OriginAfter, h.readWait+4*stall), func() {
		if gen != h.readGen || !h.reading {
			return
		}
		h.reading, h.fellBack = false, true
		var rest int64
		for i := h.readPos; i < s.cfg.Pieces; i++ {
			rest += s.pieceLen(i)
		}
		s.mirror.start(float64(rest), func(sent float64, _ bool) { s.fallbackBytes += sent })
	})
}

// The fill (fill.go).

// waitForPeers is the fill's wait for a connection before it decides
// whether peers are there.
func (s *fillSim) waitForPeers(h *simHost) {
	if h.missing == 0 {
		return
	}
	if len(h.conns) > 0 {
		h.peersKnown = true
		h.settleBegan, h.settleChanged, h.settlePeers = s.now, s.now, len(h.conns)
		s.settle(h)
		return
	}
	if waited := s.now - h.began; waited >= announceWait && (len(h.dialling) == 0 || waited >= s.cfg.Settings.OriginAfter) {
		s.loopStart(h)
		return
	}
	s.after(20*time.Millisecond, func() { s.waitForPeers(h) })
}

// settle waits until no peer connected or left for settleFor, at most
// origin-after.
func (s *fillSim) settle(h *simHost) {
	if p := len(h.conns); p != h.settlePeers {
		h.settlePeers, h.settleChanged = p, s.now
	}
	if s.now-h.settleChanged >= settleFor || s.now-h.settleBegan >= s.cfg.Settings.OriginAfter || h.missing == 0 {
		if !s.cfg.SwarmAtAnnounce {
			h.swarm = len(s.tracker)
		}
		if s.cfg.Members {
			s.listMembers(h)
		}
		s.loopStart(h)
		return
	}
	s.after(20*time.Millisecond, func() { s.settle(h) })
}

func (s *fillSim) loopStart(h *simHost) {
	h.lastProgress, h.lastMissing = s.now, h.missing
	s.step(h)
}

// step is one turn of the fill's loop: what to fetch now.
func (s *fillSim) step(h *simHost) {
	if h.missing == 0 {
		return
	}
	if !h.peersKnown && len(h.conns) > 0 {
		h.peersKnown = true
	}
	patience := patienceFor(s.cfg.Settings.OriginAfter, h.pace, s.cfg.PieceLength)
	h.pick, h.pickK, h.replan = h.pick[:0], 0, false
	h.inOrder = !h.peersKnown || s.now-h.lastProgress >= max(s.cfg.Settings.Stall, 2*patience)
	if h.inOrder {
		for i := range s.cfg.Pieces {
			if !h.complete(i) {
				h.pick = append(h.pick, i)
			}
		}
	} else if i := s.pickOwn(h, patience); i >= 0 {
		if h.listed && s.now-h.membersAt >= membersAge {
			s.listMembers(h)
			i = s.pickOwn(h, patience)
		}
		if i >= 0 {
			h.pick = append(h.pick, i)
		}
	}
	s.fetchNext(h)
}

func (s *fillSim) pickOwn(h *simHost, patience time.Duration) int {
	swarm := 0
	if s.cfg.Swarm {
		swarm = h.swarm
	}
	v := &rankView{me: h.key}
	var haves []*roaring.Bitmap
	v.others, haves = h.peerViews(s)
	if h.listed {
		v.others, v.seeds = h.members, h.seeds
	}
	patience, holdWait := turnsFor(v, haves, patience, othersWait(s.cfg.Settings.OriginAfter, s.cfg.Settings.Stall))
	return pickOwn(s.cfg.Pieces, h.complete, anyHas(haves), h.key, v.others, holdWait, unseenHosts(swarm, len(v.others)), h.left, patience, s.epoch.Add(s.now))
}

// fetchNext fetches the next piece of h's pick from the mirror, or ends
// the turn.
func (s *fillSim) fetchNext(h *simHost) {
	for h.pickK < len(h.pick) {
		k, i := h.pickK, h.pick[h.pickK]
		h.pickK++
		if h.complete(i) {
			continue
		}
		if !h.peersKnown && k > 0 && len(h.conns) > 0 {
			h.replan = true
			break
		}
		s.fetch(h, i)
		return
	}
	s.turnEnd(h)
}

// fetch fetches piece i for h; when it takes longer than fetchPiece's
// timeout it is given up, and the turn ends.
func (s *fillSim) fetch(h *simHost, i int) {
	n := s.pieceLen(i)
	began := s.now
	var job *simJob
	job = s.mirror.start(float64(n), func(sent float64, ended bool) {
		s.fillBytes += sent
		if s.stopped || h.fetchJob != job {
			return
		}
		h.fetchJob = nil
		if !ended {
			s.turnEnd(h)
			return
		}
		h.pace = nextPace(h.pace, n, s.now-began)
		s.got(h, i)
		s.fetchNext(h)
	})
	h.fetchJob = job
	s.after(s.cfg.Settings.Stall+time.Duration(n/(64<<10))*time.Second, func() {
		if h.fetchJob == job {
			s.mirror.cancel(job)
		}
	})
}

// turnEnd is the end of the loop's turn: on at once after progress or a
// replan, else after 100 ms.
func (s *fillSim) turnEnd(h *simHost) {
	if h.missing < h.lastMissing {
		h.lastMissing, h.lastProgress = h.missing, s.now
		s.step(h)
		return
	}
	if h.replan {
		s.step(h)
		return
	}
	s.after(100*time.Millisecond, func() {
		if h.missing < h.lastMissing {
			h.lastMissing, h.lastProgress = h.missing, s.now
		}
		s.step(h)
	})
}

// simMirror is the mirror's link: the transfers at once share its rate
// evenly (processor sharing). v is the bytes each transfer running since
// the start got; a transfer ends when v reaches its end.
type simMirror struct {
	s      *fillSim
	v      float64
	at     time.Duration
	jobs   simJobs
	gen    int
	active int
}

type simJob struct {
	start, end float64
	done       func(sent float64, ended bool)
	index      int
}

type simJobs []*simJob

func (q simJobs) Len() int           { return len(q) }
func (q simJobs) Less(i, j int) bool { return q[i].end < q[j].end }
func (q simJobs) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *simJobs) Push(x any) {
	j := x.(*simJob)
	j.index = len(*q)
	*q = append(*q, j)
}
func (q *simJobs) Pop() any {
	old := *q
	j := old[len(old)-1]
	*q = old[:len(old)-1]
	j.index = -1
	return j
}

func (m *simMirror) advance() {
	if len(m.jobs) > 0 {
		m.v += m.s.cfg.MirrorRate / float64(len(m.jobs)) * (m.s.now - m.at).Seconds()
	}
	m.at = m.s.now
}

// start begins a transfer of n bytes; done gets the bytes sent when it
// ends (ended) or is cancelled.
func (m *simMirror) start(n float64, done func(sent float64, ended bool)) *simJob {
	m.advance()
	j := &simJob{start: m.v, end: m.v + n, done: done}
	heap.Push(&m.jobs, j)
	m.schedule()
	return j
}

func (m *simMirror) cancel(j *simJob) {
	if j.index < 0 {
		return
	}
	m.advance()
	heap.Remove(&m.jobs, j.index)
	m.schedule()
	j.done(m.v-j.start, false)
}

func (m *simMirror) schedule() {
	m.gen++
	if len(m.jobs) == 0 {
		return
	}
	gen := m.gen
	dt := (m.jobs[0].end - m.v) * float64(len(m.jobs)) / m.s.cfg.MirrorRate
	m.s.after(time.Duration(math.Ceil(max(dt, 0)*1e9)), func() {
		if gen != m.gen {
			return
		}
		m.advance()
		var ended []*simJob
		for len(m.jobs) > 0 && m.jobs[0].end <= m.v+1 {
			ended = append(ended, heap.Pop(&m.jobs).(*simJob))
		}
		m.schedule()
		for _, j := range ended {
			j.done(j.end-j.start, true)
		}
	})
}
