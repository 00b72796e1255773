package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/anacrolix/torrent"
)

// announceWait is how long a new download waits for the tracker's answer
// and a connection to a peer before it decides that no peer is there.
// After lonelyAfter downloads in a row found none (the first host of a
// fleet, or a tracker that is down), the wait is lonelyWait: a
// transaction of dnf's costs the wait once per package, three at a time.
const (
	announceWait = 300 * time.Millisecond
	lonelyWait   = 50 * time.Millisecond
	lonelyAfter  = 3
)

// startFill starts its origin fetcher, unless one runs.
func (s *Swarm) startFill(it *item) {
	if it.cancel != nil || it.complete {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	it.cancel = cancel
	t, verified := it.t, it.verified
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.fill(ctx, it, t, verified)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err == nil {
			it.complete = true
		}
		if it.t == t {
			it.cancel = nil
		}
		cancel()
	}()
}

// fill fetches from the mirror the pieces of it that the swarm does not
// bring, until t is complete or ctx ends; every piece is hashed by the
// client like a piece from a peer, and one that does not verify is not
// used.
//
// When no peer is connected after announceWait (or, while a dial to a
// peer is in flight, after origin-after), and the trackers count no other
// host in the swarm either, it fetches every missing piece in order, so
// that the request streams. When they count others (hosts that start
// together, too busy to connect within announceWait), or do not answer
// yet, it waits for a connection up to othersWait; then, with others
// counted, it goes on as with peers, ranking itself among the hosts it
// does not see. With peers, once the connections settled (see settle),
// it asks the trackers how many hosts the swarm holds (swarmSize) and
// which (members), each within origin-after, and fetches only its own
// share of the pieces no connected peer has: those it ranks first for
// among the hosts they list (pickOwn; among itself and its connected
// peers when they do not answer), so that hosts the trackers list alike
// fetch each piece once between them. A piece it ranks r-th for is
// fetched after r x patience if still missing, longer among hosts it is
// not connected to and when the swarm probably holds the piece
// (turnsFor); in a swarm larger than the trackers list it also counts
// the hosts it does not know, and waits longer (turnWait). When the
// torrent makes no progress for stall (or twice the patience, when
// longer): no piece verified and no byte of it arrived, from peers or the
// mirror, every missing piece is fetched in order. A host that found no
// peer looks again before each piece, and goes on as if peers had been
// known from the start when one connects. When the torrent completes,
// the host tells the trackers (completed).
func (s *Swarm) fill(ctx context.Context, it *item, t *torrent.Torrent, verified <-chan struct{}) error {
	select {
	case <-verified:
	case <-ctx.Done():
		return ctx.Err()
	}
	if missing(t) == 0 {
		return nil
	}
	peersKnown, began := false, time.Now()
	waitFor := announceWait
	if s.lonely.Load() >= lonelyAfter {
		waitFor = lonelyWait
	}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	mi := t.Metainfo()
	// swarm is the hosts the trackers count in the torrent's swarm (0:
	// not known).
	swarm, scraped := 0, time.Time{}
	for len(mi.UpvertedAnnounceList()) > 0 {
		// A connection, not a known address: trackers list the asking
		// host too. (Stats, not KnownSwarm, which reads the engine's
		// state without its lock.) While a dial to a peer the tracker
		// named is still in flight (its handshake can take most of a
		// second on a loaded host), wait for it up to origin-after.
		st := t.Stats()
		if st.ActivePeers > 0 {
			peersKnown = true
			break
		}
		if waited := time.Since(began); waited >= waitFor && (st.HalfOpenPeers == 0 || waited >= s.cfg.OriginAfter) {
			// No connection yet: the trackers may still count other
			// hosts (hosts that start together, too busy to connect
			// within the wait). Asked again while they do not answer,
			// or do not know the torrent yet (0), unless this host
			// found itself alone lately.
			if swarm == 0 && time.Since(scraped) >= rescrape {
				swarm, scraped = s.scrapeSwarm(ctx, it, t), time.Now()
			}
			alone := swarm == 1 || swarm == 0 && s.lonely.Load() >= lonelyAfter
			if alone || time.Since(began) >= othersWait(s.cfg.OriginAfter, s.cfg.Stall) {
				// Still no connection with others counted: ranked
				// among them as hosts not seen.
				peersKnown = swarm > 1
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
	}
	var view *rankView
	if peersKnown {
		s.lonely.Store(0)
		if !s.settle(ctx, t) {
			return ctx.Err()
		}
		if swarm == 0 {
			swarm = s.scrapeSwarm(ctx, it, t)
		}
		view = s.members(ctx, it, t)
	} else {
		s.lonely.Add(1)
	}
	s.log.Debug("origin fill", "torrent", it.name, "peers_known", peersKnown, "swarm", swarm, "members", viewSize(view), "seeds", viewSeeds(view), "after", time.Since(began))
	// Progress, as for a request (reader.go's waitPiece): a piece
	// verified, or more bytes of the torrent arrived than ever before
	// (blocks from peers, verified or not, and this fill's bytes from
	// the mirror). A piece that comes slowly from a peer, on a loaded
	// host, is not the swarm being stuck.
	arrived := func() int64 { return t.BytesCompleted() + it.arriving.Load() }
	lastProgress, lastMissing, most := time.Now(), missing(t), arrived()
	progressed := func() bool {
		m, a := missing(t), arrived()
		if m >= lastMissing && a <= most {
			return false
		}
		lastMissing, most, lastProgress = min(m, lastMissing), max(a, most), time.Now()
		return true
	}
	stuck := false
	// When the swarm probably holds a piece no connected peer has, the
	// first-ranked host waits for it as long as a download without a
	// connection waits when others are counted (turnsFor).
	holdWait := othersWait(s.cfg.OriginAfter, s.cfg.Stall)
	// left holds when this host first left a missing piece to a host
	// ranked above it.
	left := map[int]time.Time{}
	for {
		if lastMissing == 0 {
			s.completed(ctx, it, t)
			return nil
		}
		if !peersKnown && t.Stats().ActivePeers > 0 {
			// Ranked among the members the others rank among too.
			peersKnown = true
			s.lonely.Store(0)
			view = s.members(ctx, it, t)
			s.log.Debug("origin fill: a peer came", "torrent", it.name, "after", time.Since(began), "missing", lastMissing, "members", viewSize(view))
		}
		patience := s.patience(t.Info().PieceLength)
		var pick []int
		mode := "own"
		if !peersKnown || time.Since(lastProgress) >= max(s.cfg.Stall, 2*patience) {
			mode = "in order"
			if peersKnown && !stuck {
				s.log.Debug("origin fill: stuck", "torrent", it.name, "since", time.Since(lastProgress), "missing", lastMissing, "peers", t.Stats().ActivePeers)
			}
			stuck = peersKnown
			// Alone, or the swarm is stuck: every missing piece, in
			// order.
			for i := range t.NumPieces() {
				if !t.Piece(i).State().Complete {
					pick = append(pick, i)
				}
			}
		} else if i := ownPiece(t, s.cl.PeerID(), view, swarm, holdWait, left, patience); i >= 0 {
			if view != nil && time.Since(view.at) >= membersAge {
				// Members that came since the view was made may rank
				// above this host for the piece.
				view = s.members(ctx, it, t)
				i = ownPiece(t, s.cl.PeerID(), view, swarm, holdWait, left, patience)
			}
			if i >= 0 {
				pick = []int{i}
			}
		}
		replan := false
		for k, i := range pick {
			if t.Piece(i).State().Complete {
				continue
			}
			if !peersKnown && k > 0 && t.Stats().ActivePeers > 0 {
				replan = true
				break
			}
			s.log.Debug("origin piece", "torrent", it.name, "piece", i, "mode", mode, "peers", t.Stats().ActivePeers, "peers_known", peersKnown)
			if err := s.fetchPiece(ctx, it, t, i); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				var se storeError
				if errors.As(err, &se) {
					s.fail(it, err)
					return err
				}
				s.log.Info("fetching a piece from the mirror", "torrent", it.name, "piece", i, "err", err)
				break
			}
		}
		if progressed() {
			stuck = false
			continue
		}
		if replan {
			continue
		}
		if !sleepUntilDone(ctx, t, 100*time.Millisecond) {
			return ctx.Err()
		}
		if progressed() {
			stuck = false
		}
	}
}

// rescrape is how often a new download that has no connection asks the
// trackers again how many hosts the swarm holds, while they do not say.
const rescrape = 500 * time.Millisecond

// othersWait is how long a new download waits for a connection when the
// trackers count other hosts in its swarm, or do not answer yet, before it
// fetches from the mirror: at least origin-after, and half the stall time,
// so that the requests waiting on the torrent do not fall back meanwhile.
func othersWait(originAfter, stall time.Duration) time.Duration {
	return max(originAfter, stall/2)
}

// scrapeSwarm returns the hosts the trackers of it count in the swarm of
// t, asked for at most origin-after (0: not known).
func (s *Swarm) scrapeSwarm(ctx context.Context, it *item, t *torrent.Torrent) int {
	s.mu.Lock()
	trackers := it.trackers
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OriginAfter)
	defer cancel()
	return s.swarmSize(ctx, trackers, t.InfoHash())
}

// membersAge is the age past which the fill asks the trackers for the
// swarm's members again before it fetches a piece of its own: hosts
// that came since may rank above it for the piece. An announce on the
// fleet's network takes a few milliseconds, a piece from the mirror
// hundreds.
const membersAge = 100 * time.Millisecond

// settleFor is how long the connections of a torrent must stay as they
// are before the hosts rank themselves for its pieces: hosts that start
// together connect within a few hundred milliseconds of each other.
const settleFor = 200 * time.Millisecond

// settle waits until no peer connected or left for settleFor, at most
// origin-after; false when ctx ends first.
func (s *Swarm) settle(ctx context.Context, t *torrent.Torrent) bool {
	began, changed, peers := time.Now(), time.Now(), t.Stats().ActivePeers
	for time.Since(changed) < settleFor && time.Since(began) < s.cfg.OriginAfter {
		if !sleepUntilDone(ctx, t, 20*time.Millisecond) {
			return false
		}
		if p := t.Stats().ActivePeers; p != peers {
			peers, changed = p, time.Now()
		}
	}
	return true
}

// patience is how long a host waits for a piece of length n that a host
// ranked just above it should fetch (see patienceFor).
func (s *Swarm) patience(n int64) time.Duration {
	return patienceFor(s.cfg.OriginAfter, math.Float64frombits(s.originPace.Load()), n)
}

// patienceFor is the patience for a piece of length n: three times what
// n bytes took from the mirror here lately (perByte nanoseconds a byte,
// 0 before the first piece), at least originAfter.
func patienceFor(originAfter time.Duration, perByte float64, n int64) time.Duration {
	return max(originAfter, time.Duration(3*perByte*float64(n)))
}

// paced records that n bytes took d from the mirror.
func (s *Swarm) paced(n int64, d time.Duration) {
	if n <= 0 {
		return
	}
	for {
		old := s.originPace.Load()
		next := nextPace(math.Float64frombits(old), n, d)
		if s.originPace.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// nextPace is the time a byte takes from the mirror lately (nanoseconds)
// after n > 0 bytes took d, when it was old before (0: no piece yet): a
// moving average that gives the last piece a fifth.
func nextPace(old float64, n int64, d time.Duration) float64 {
	v := float64(d) / float64(n)
	if old == 0 {
		return v
	}
	return 0.8*old + 0.2*v
}

// sleepUntilDone waits for d, returning early (true) when t completes;
// false when ctx ends first.
func sleepUntilDone(ctx context.Context, t *torrent.Torrent, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.Complete().On():
		return true
	case <-ctx.Done():
		return false
	}
}

func missing(t *torrent.Torrent) int {
	n := 0
	for i := range t.NumPieces() {
		if !t.Piece(i).State().Complete {
			n++
		}
	}
	return n
}

// storeError is a failure to write the store: the download cannot go on
// through the swarm on this host.
type storeError struct{ err error }

func (e storeError) Error() string { return "store: " + e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// fetchPiece fetches piece i of it from the mirror, writes it into the
// store and has the client hash it.
func (s *Swarm) fetchPiece(ctx context.Context, it *item, t *torrent.Torrent, i int) error {
	select {
	case s.fetches <- struct{}{}:
		defer func() { <-s.fetches }()
	case <-ctx.Done():
		return ctx.Err()
	}
	began := time.Now()
	p := t.Piece(i)
	off, size := p.Info().Offset(), p.Info().Length()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Stall+time.Duration(size/(64<<10))*time.Second)
	defer cancel()
	s.mu.Lock()
	u := it.url
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+size-1, 10))
	resp, err := s.origin.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkRange(resp, off, size, it.length); err != nil {
		return err
	}
	buf := make([]byte, size)
	for n := 0; n < len(buf); {
		k, err := resp.Body.Read(buf[n:])
		n += k
		it.arriving.Add(int64(k))
		if n < len(buf) && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading %s: %w", u, err)
		}
	}
	s.paced(size, time.Since(began))
	s.stats.origin.Add(size)
	if _, err := p.Storage().WriteAt(buf, 0); err != nil {
		return storeError{err}
	}
	// A check the client queued before the write (when the torrent was
	// added, say) may end after it and count as this one: hash twice
	// before calling the mirror's bytes wrong.
	for range 2 {
		if err := p.VerifyDataContext(ctx); err != nil {
			return err
		}
		if p.State().Complete {
			s.log.Debug("origin piece done", "torrent", it.name, "piece", i, "took", time.Since(began))
			return nil
		}
	}
	return fmt.Errorf("piece %d from %s does not match the torrent", i, u)
}

// checkRange checks that resp holds bytes off to off+size-1 of a file of
// length total.
func checkRange(resp *http.Response, off, size, total int64) error {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		want := "bytes " + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+size-1, 10) + "/" + strconv.FormatInt(total, 10)
		if got := resp.Header.Get("Content-Range"); got != want {
			return fmt.Errorf("mirror answered Content-Range %q, want %q", got, want)
		}
	case http.StatusOK:
		if off != 0 || resp.ContentLength != total || size != total {
			return fmt.Errorf("mirror ignored the range: %s", resp.Status)
		}
	default:
		return fmt.Errorf("mirror: %s", resp.Status)
	}
	return nil
}
