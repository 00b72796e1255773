package agent

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring"
)

// fleetKeys are the rank keys of hosts with distinct peer IDs for one
// torrent.
func fleetKeys(hosts int) []uint64 {
	var ih [20]byte
	copy(ih[:], "an info hash, 20 B..")
	keys := make([]uint64, hosts)
	for h := range keys {
		var id [20]byte
		copy(id[:], fmt.Sprintf("-AN2000-host%02d......", h))
		keys[h] = rankKey(id, ih)
	}
	return keys
}

// others returns every host's key but h's.
func others(keys []uint64, h int) []uint64 {
	var v []uint64
	for j, k := range keys {
		if j != h {
			v = append(v, k)
		}
	}
	return v
}

// noPeerHas is pickOwn's had when no connected peer has a piece.
func noPeerHas(int) bool { return false }

// TestPickOwnSplitsPieces: hosts that see each other fetch every piece
// from the mirror exactly once between them, in shares of about one
// n-th each, and none fetches a piece a peer has.
func TestPickOwnSplitsPieces(t *testing.T) {
	const hosts, n = 8, 400
	keys := fleetKeys(hosts)
	now := time.Now()
	fetchedBy := make([]int, n)
	for i := range fetchedBy {
		fetchedBy[i] = -1
	}
	for h := range keys {
		done := make([]bool, n)
		got := 0
		left := map[int]time.Time{}
		for {
			// No time passes: only the host's own pieces come.
			i := pickOwn(n, func(i int) bool { return done[i] }, noPeerHas, keys[h], others(keys, h), 0, 0, left, time.Second, now)
			if i < 0 {
				break
			}
			if done[i] {
				t.Fatalf("host %d: piece %d again", h, i)
			}
			done[i] = true
			got++
			if fetchedBy[i] >= 0 {
				t.Errorf("piece %d fetched by host %d and host %d", i, fetchedBy[i], h)
			}
			fetchedBy[i] = h
		}
		if got < n/hosts/2 || got > 2*n/hosts {
			t.Errorf("host %d fetched %d of %d pieces, want about %d", h, got, n, n/hosts)
		}
	}
	for i, h := range fetchedBy {
		if h < 0 {
			t.Errorf("piece %d: no host fetched it", i)
		}
	}

	// Pieces a peer has are never fetched from the mirror.
	haves := make([]*roaring.Bitmap, hosts-1)
	for j := range haves {
		haves[j] = roaring.New()
	}
	for i := range n {
		if i%3 == 0 {
			haves[i%len(haves)].Add(uint32(i))
		}
	}
	done := make([]bool, n)
	for {
		i := pickOwn(n, func(i int) bool { return done[i] }, anyHas(haves), keys[0], others(keys, 0), 0, 0, map[int]time.Time{}, time.Second, now)
		if i < 0 {
			break
		}
		if i%3 == 0 {
			t.Errorf("piece %d, which a peer has, fetched from the mirror", i)
		}
		done[i] = true
	}
}

// TestPickOwnBackup: a piece that its first-ranked host does not bring is
// taken by one more host after each patience, never by several at once.
func TestPickOwnBackup(t *testing.T) {
	const hosts, patience = 8, 3 * time.Second
	keys := fleetKeys(hosts)
	t0 := time.Now()
	lefts := make([]map[int]time.Time, hosts)
	for h := range lefts {
		lefts[h] = map[int]time.Time{}
	}
	takers := func(at time.Time) int {
		n := 0
		for h := range keys {
			if pickOwn(1, func(int) bool { return false }, noPeerHas, keys[h], others(keys, h), 0, 0, lefts[h], patience, at) == 0 {
				n++
			}
		}
		return n
	}
	for k, at := range []time.Time{t0, t0.Add(patience - time.Millisecond), t0.Add(patience), t0.Add(2*patience - time.Millisecond), t0.Add(2 * patience), t0.Add(7 * patience)} {
		want := []int{1, 1, 2, 2, 3, 8}[k]
		if got := takers(at); got != want {
			t.Errorf("%v after the hosts first saw the piece: %d hosts fetch it, want %d", at.Sub(t0), got, want)
		}
	}
}

// TestPickOwnSwarm: among 10 000 hosts that each see 50 others, the
// connected peers alone make about one host in 51 fetch a piece at once;
// with the swarm's size (unseen) about one fetches it in the first
// patience, and more in each one after, a dozen by the fourth.
func TestPickOwnSwarm(t *testing.T) {
	const hosts, view, patience = 10000, 50, time.Second
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]uint64, hosts)
	for h := range keys {
		keys[h] = rng.Uint64()
	}
	views := make([][]uint64, hosts)
	for h := range views {
		for range view {
			j := rng.IntN(hosts - 1)
			if j >= h {
				j++
			}
			views[h] = append(views[h], keys[j])
		}
	}
	t0 := time.Now()
	fetching := func(unseen int, at time.Duration) int {
		n := 0
		for h := range keys {
			left := map[int]time.Time{}
			lacks := func(int) bool { return false }
			if pickOwn(1, lacks, noPeerHas, keys[h], views[h], 0, unseen, left, patience, t0) == 0 ||
				pickOwn(1, lacks, noPeerHas, keys[h], views[h], 0, unseen, left, patience, t0.Add(at)) == 0 {
				n++
			}
		}
		return n
	}
	n := fetching(0, 0)
	t.Logf("connected peers only: %d hosts fetch at once", n)
	if n < hosts/view/2 || n > 2*hosts/view {
		t.Errorf("connected peers only: %d hosts fetch the piece at once, want about %d", n, hosts/(view+1))
	}
	unseen := hosts - 1 - view
	for _, c := range []struct {
		at       time.Duration
		min, max int
	}{{0, 0, 0}, {patience - 1, 0, 4}, {2*patience - 1, 1, 8}, {4*patience - 1, 6, 25}} {
		n := fetching(unseen, c.at)
		t.Logf("with the swarm's size: %d hosts fetch within %v", n, c.at)
		if n < c.min || n > c.max {
			t.Errorf("with the swarm's size: %d hosts fetch the piece within %v, want %d to %d", n, c.at, c.min, c.max)
		}
	}
}
