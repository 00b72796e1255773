package agent

import (
	"context"
	"errors"
	"time"

	"github.com/anacrolix/torrent"
)

// A request whose next piece is late (see swarmReader) fetches that piece
// from the mirror in its turn among the hosts that lack it.

// fetchLate fetches piece i of it from the mirror for a request whose
// next piece is late (see swarmReader), in its turn among the hosts
// that lack the piece (lateTurn): hosts that start a file together
// are late for the same piece at about the same time, when a peer that
// has the file serves them all at once, and the host ranked first
// fetches it while the others wait for it to come from that host. Nil
// also when the piece came meanwhile.
func (s *Swarm) fetchLate(ctx context.Context, it *item, i int) error {
	s.mu.Lock()
	t := it.t
	s.mu.Unlock()
	p := t.Piece(i)
	if wait := s.lateTurn(it, t, i); wait > 0 {
		changes := t.SubscribePieceStateChanges()
		timer := time.NewTimer(wait)
		came := false
		for !came && !p.State().Complete {
			select {
			case <-ctx.Done():
				came = true
			case <-timer.C:
				came = true
			case _, ok := <-changes.Values:
				came = !ok
			}
		}
		timer.Stop()
		changes.Close()
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.State().Complete {
			s.log.Debug("late piece came from a peer in the turn wait", "torrent", it.name, "piece", i, "turn", wait)
			return nil
		}
	}
	if p.State().Complete {
		return nil
	}
	err := s.fetchPiece(ctx, it, t, i)
	var se storeError
	if errors.As(err, &se) {
		s.fail(it, err)
	}
	return err
}

// lateTurn is how long this host waits before it fetches late piece i of
// it from the mirror: 0 when it ranks first for the piece among the hosts
// its fill ranks among (the swarm's members the trackers listed, below
// the seeds they count; when they did not answer, the connected peers
// that lack the piece), else
// turns(r, patience) for the r of them ranked above it, at most stall:
// the request has waited 4 x stall for the piece already (see
// swarmReader).
func (s *Swarm) lateTurn(it *item, t *torrent.Torrent, i int) time.Duration {
	s.mu.Lock()
	v := it.view
	s.mu.Unlock()
	ih := t.InfoHash()
	r := 0
	if v != nil {
		r = v.seeds
		me := rank(v.me, i)
		for _, k := range v.others {
			if rank(k, i) > me {
				r++
			}
		}
	} else {
		me := rank(rankKey(s.cl.PeerID(), ih), i)
		for _, pc := range t.PeerConns() {
			if !pc.PeerPieces().Contains(uint32(i)) && rank(rankKey(pc.PeerID, ih), i) > me {
				r++
			}
		}
	}
	return min(turns(float64(r), s.patience(t.Info().PieceLength)), s.cfg.Stall)
}
