package agent

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring"
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

// fill makes the mirror the swarm's source of last resort. The mirror's
// web server is the web seed of every torrent; the agent fetches from it
// itself instead of through anacrolix's web seed client, for two
// reasons: that client waits up to 5 s before its first request, and it
// fetches pieces that peers are about to send.
//
// The policy: when the tracker knows no other peer of the torrent, the
// pieces are fetched from the mirror at once, in order, so that the
// request streams. When peers are known, the host waits a delay taken
// from a hash of its peer ID and the torrent (up to origin-after),
// then fetches, starting at a piece that also depends on the host, only
// the pieces that no connected peer has. Hosts that start together thus
// fetch different pieces, and a piece that one of them fetched reaches
// the others through the swarm. When no piece completes for stall, the
// missing ones are fetched whatever peers claim to have.
//
// A host that found no peer in the wait looks again before each piece:
// when a peer connects later (a tracker slow to answer behind the
// mirror's busy link, hosts that started a moment apart), it goes on as
// if peers had been known from the start. Without that, a fleet whose
// tracker answers in more than the wait fetched most packages from the
// mirror once per host (the fleet benchmark, BenchmarkFleet).
//
// Every piece fetched is written to the store and hashed by the client
// like a piece from a peer; a piece that does not verify is not used.
func (s *Swarm) fill(ctx context.Context, it *item, t *torrent.Torrent, verified <-chan struct{}) error {
	select {
	case <-verified:
	case <-ctx.Done():
		return ctx.Err()
	}
	n := t.NumPieces()
	if missing(t) == 0 {
		return nil
	}
	peersKnown, began := false, time.Now()
	waitFor := announceWait
	if s.lonely.Load() >= lonelyAfter {
		waitFor = lonelyWait
	}
	wait := time.NewTimer(waitFor)
	defer wait.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	mi := t.Metainfo()
waitAnnounce:
	for len(mi.UpvertedAnnounceList()) > 0 {
		// A connection, not a known address: trackers list the asking
		// host too. (Stats, not KnownSwarm, which reads the engine's
		// state without its lock.)
		if t.Stats().ActivePeers > 0 {
			peersKnown = true
			break
		}
		select {
		case <-wait.C:
			break waitAnnounce
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
	}
	if peersKnown {
		s.lonely.Store(0)
	} else {
		s.lonely.Add(1)
	}
	s.log.Debug("origin fill", "torrent", it.name, "peers_known", peersKnown, "after", time.Since(began))
	// The spread comes from the client's peer ID, random at each start:
	// agents sharing a host name (several on one machine, or cloned
	// hosts) still spread apart.
	id := s.cl.PeerID()
	h := sha1.Sum(append(id[:], t.InfoHash().Bytes()...))
	spread := binary.BigEndian.Uint32(h[:4])
	start := 0
	if peersKnown {
		start = int(spread % uint32(n))
		delay := time.Duration(uint64(s.cfg.OriginAfter) * uint64(spread>>16) / (1 << 16))
		if !sleepUntilDone(ctx, t, delay) {
			return ctx.Err()
		}
	}
	lastProgress, lastMissing := time.Now(), missing(t)
	for {
		if lastMissing == 0 {
			return nil
		}
		if !peersKnown && t.Stats().ActivePeers > 0 {
			peersKnown, start = true, int(spread%uint32(n))
			s.lonely.Store(0)
			s.log.Debug("origin fill: a peer came", "torrent", it.name, "after", time.Since(began), "missing", lastMissing)
		}
		stalled := time.Since(lastProgress) >= s.cfg.Stall
		var have *roaring.Bitmap
		if peersKnown && !stalled {
			have = peerPieces(t)
		}
		replan := false
		for k := 0; k < n; k++ {
			i := (start + k) % n
			if t.Piece(i).State().Complete || (have != nil && have.Contains(uint32(i))) {
				continue
			}
			if !peersKnown && k > 0 && t.Stats().ActivePeers > 0 {
				replan = true
				break
			}
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
			if peersKnown && !stalled {
				// Peers may have sent more meanwhile: look again.
				break
			}
		}
		if m := missing(t); m < lastMissing {
			lastMissing, lastProgress = m, time.Now()
			continue
		}
		if replan {
			continue
		}
		if !sleepUntilDone(ctx, t, 200*time.Millisecond) {
			return ctx.Err()
		}
		if m := missing(t); m < lastMissing {
			lastMissing, lastProgress = m, time.Now()
		}
	}
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

// peerPieces is the union of the pieces the connected peers have.
func peerPieces(t *torrent.Torrent) *roaring.Bitmap {
	have := roaring.New()
	for _, pc := range t.PeerConns() {
		have.Or(pc.PeerPieces())
	}
	return have
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
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return fmt.Errorf("reading %s: %w", u, err)
	}
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
