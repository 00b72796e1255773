package agent

import (
	"crypto/sha1"
	"encoding/binary"
	"math"
	"sort"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// seedTime spreads the seeding time of hosts between seed-min and
// seed-max as yum-torrent did: s is the first 4 bytes of
// SHA-1(host name + info hash) over 2^32, and the time is
// min + (max-min)·(1-√(2s-s²)): most hosts seed for a short time, a few
// for long, and they do not all leave at once.
func (s *Swarm) seedTime(ih metainfo.Hash) time.Duration {
	h := sha1.Sum([]byte(s.hostname + ih.HexString()))
	x := float64(binary.BigEndian.Uint32(h[:4])) / (1 << 32)
	f := 1 - math.Sqrt(2*x-x*x)
	return s.cfg.SeedMin + time.Duration(f*float64(s.cfg.SeedMax-s.cfg.SeedMin))
}

// abandonAfter is how long a download goes on after the last request
// or prefetch that wanted it ended.
const abandonAfter = 2 * time.Minute

// storedPeers bounds the peer connections of a stored torrent (one past
// its seeding time, still announced: see tidy), against peers-per-torrent
// for one being downloaded or seeded: a late host wants its pieces from
// a few of the hosts that keep it, and the first late host to finish
// seeds it in full.
const storedPeers = 4

// janitor moves torrents past their seeding time to stored seeding or
// out of the client, and evicts finished files, least recently used
// first, while the store holds more than store-size.
func (s *Swarm) janitor() {
	defer s.wg.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
			s.tidy(time.Now())
		}
	}
}

// tidy is one round of the janitor at now. A finished torrent past its
// seeding time that no request reads is stored: it stays in the client,
// announced, with at most storedPeers connections, so that a host that
// comes later still finds this one; the stored-seeds most recently used
// of those stay so, and the others are dropped from the client (their
// files stay in the store). With stored-seeds 0 a torrent is dropped at
// the end of its seeding time.
func (s *Swarm) tidy(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	var idle, stored []*item
	for _, it := range s.items {
		total += it.length
		if it.t != nil && it.users == 0 && it.complete && now.After(it.seedUntil) {
			s.storeLocked(it)
		}
		if it.t != nil && it.stored {
			stored = append(stored, it)
		}
		if it.users == 0 && (it.complete || it.t == nil) {
			idle = append(idle, it)
		}
	}
	if len(stored) > s.cfg.StoredSeeds {
		sort.Slice(stored, func(i, j int) bool { return stored[i].lastUsed.After(stored[j].lastUsed) })
		for _, it := range stored[s.cfg.StoredSeeds:] {
			s.dropLocked(it)
		}
	}
	// A download the store could not hold gives its space back once no
	// request reads it; so does one that no request or prefetch has
	// wanted for abandonAfter, so that nothing downloads for a torrent no
	// one waits for. The next request starts it again. A stored file
	// still being hashed (after a restart) is no download yet.
	for _, it := range s.items {
		abandoned := it.t != nil && !it.complete && hashed(it) && now.Sub(it.lastUsed) > abandonAfter
		if it.users == 0 && (it.failure() != nil || abandoned) {
			if abandoned {
				s.log.Info("download abandoned: no request or prefetch wants it", "torrent", it.name)
			}
			s.evictLocked(it)
			total -= it.length
		}
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].lastUsed.Before(idle[j].lastUsed) })
	for _, it := range idle {
		if total <= s.cfg.StoreSize {
			break
		}
		s.evictLocked(it)
		total -= it.length
	}
}

// storeLocked makes it, finished and past its seeding time, a stored
// torrent: announced still, with fewer connections than an active one.
func (s *Swarm) storeLocked(it *item) {
	if it.stored {
		return
	}
	it.stored = true
	it.t.SetMaxEstablishedConns(storedPeers)
}

// activateLocked makes it, used again, an active torrent: its
// connections bounded by peers-per-torrent again.
func (s *Swarm) activateLocked(it *item) {
	if !it.stored {
		return
	}
	it.stored = false
	if it.t != nil {
		it.t.SetMaxEstablishedConns(s.cfg.PeersPerTorrent)
	}
}

// hashed reports whether the pieces of its stored file, if any, were
// hashed (readdLocked).
func hashed(it *item) bool {
	select {
	case <-it.verified:
		return true
	default:
		return false
	}
}

// dropLocked stops seeding it; its file stays in the store.
func (s *Swarm) dropLocked(it *item) {
	if it.cancel != nil {
		it.cancel()
		it.cancel = nil
	}
	st := it.t.Stats()
	it.base.peers += st.PeerConns.BytesReadUsefulData.Int64()
	it.base.uploaded += st.BytesWrittenData.Int64()
	it.t.Drop()
	it.t = nil
	it.stored = false
	s.done.Forget(it.ih)
}

// evictLocked drops it and deletes its files from the store.
func (s *Swarm) evictLocked(it *item) {
	if it.t != nil {
		s.dropLocked(it)
	}
	s.stats.retire(it.base)
	delete(s.items, it.ih)
	s.remove(s.torrentFile(it.ih))
	s.stats.evicted.Add(1)
	s.log.Info("evicted", "torrent", it.name, "infohash", it.ih.HexString())
}
