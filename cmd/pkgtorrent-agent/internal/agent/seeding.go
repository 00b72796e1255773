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

// janitor drops torrents past their seeding time and evicts finished
// files, least recently used first, while the store holds more than
// store-size.
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

// tidy is one round of the janitor at now.
func (s *Swarm) tidy(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	var idle []*item
	for _, it := range s.items {
		total += it.length
		if it.t != nil && it.users == 0 && it.complete && now.After(it.seedUntil) {
			s.dropLocked(it)
		}
		if it.users == 0 && (it.complete || it.t == nil) {
			idle = append(idle, it)
		}
	}
	// A download the store could not hold gives its space back once no
	// request reads it; so does one that no request or prefetch has
	// wanted for abandonAfter, so that nothing downloads for a torrent no
	// one waits for. The next request starts it again.
	for _, it := range s.items {
		abandoned := it.t != nil && !it.complete && now.Sub(it.lastUsed) > abandonAfter
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
