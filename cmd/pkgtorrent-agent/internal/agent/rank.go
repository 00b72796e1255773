package agent

import (
	"time"

	"github.com/RoaringBitmap/roaring"
	"github.com/anacrolix/torrent"
)

// Which host of those that start a torrent together fetches a piece from
// the mirror: rendezvous hashing of the peer ID, the torrent and the
// piece, the same function on every host, so that hosts that see the
// same peers agree on one host for each piece without a word.

// ownPiece returns the first missing piece that no connected peer has
// and that this host (peer ID me) fetches now (see pickOwn); -1 when
// there is none.
func ownPiece(t *torrent.Torrent, me [20]byte, left map[int]time.Time, patience time.Duration) int {
	ih := t.InfoHash()
	var peers []peerView
	for _, pc := range t.PeerConns() {
		peers = append(peers, peerView{rankKey(pc.PeerID, ih), pc.PeerPieces()})
	}
	complete := func(i int) bool { return t.Piece(i).State().Complete }
	return pickOwn(t.NumPieces(), complete, rankKey(me, ih), peers, left, patience, time.Now())
}

// peerView is a connected peer as the ranking sees it: its rank key for
// the torrent and the pieces it has.
type peerView struct {
	key  uint64
	have *roaring.Bitmap
}

// pickOwn returns the first of n pieces, not complete and not had by
// any peer, that the host of key me fetches at now: one it ranks first
// for among itself and the peers that lack it, or one it ranks r-th for
// that it has left to the others (left records since when) for
// r x patience. -1 when there is none.
func pickOwn(n int, complete func(int) bool, me uint64, peers []peerView, left map[int]time.Time, patience time.Duration, now time.Time) int {
	for i := range n {
		if complete(i) {
			continue
		}
		r, had := 0, false
		score := rank(me, i)
		for _, p := range peers {
			if p.have.Contains(uint32(i)) {
				had = true
				break
			}
			if rank(p.key, i) > score {
				r++
			}
		}
		switch {
		case had:
		case r == 0:
			return i
		default:
			first, ok := left[i]
			if !ok {
				left[i] = now
			} else if now.Sub(first) >= time.Duration(r)*patience {
				return i
			}
		}
	}
	return -1
}

// rankKey is the FNV-1a hash of a peer ID and an info hash, which rank
// finishes for each piece: the same function on every host.
func rankKey(id [20]byte, ih [20]byte) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range id {
		h = (h ^ uint64(b)) * 1099511628211
	}
	for _, b := range ih {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return h
}

// rank is a peer's score for piece i (the higher, the sooner it fetches
// the piece): its key mixed with i by SplitMix64's finalizer.
func rank(key uint64, i int) uint64 {
	z := key ^ (uint64(i)+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
