package agent

import (
	"math"
	"time"

	"github.com/RoaringBitmap/roaring"
	"github.com/anacrolix/torrent"
)

// Which host of those that start a torrent together fetches a piece from
// the mirror: rendezvous hashing of the peer ID, the torrent and the
// piece, the same function on every host, so that hosts that see the
// same peers agree on one host for each piece without a word.

// ownPiece returns the first missing piece that no connected peer has
// and that this host (peer ID me) fetches now (see pickOwn), in a swarm
// of swarm hosts as its trackers count them (0: not known, the connected
// peers alone); -1 when there is none.
func ownPiece(t *torrent.Torrent, me [20]byte, swarm int, left map[int]time.Time, patience time.Duration) int {
	ih := t.InfoHash()
	var peers []peerView
	for _, pc := range t.PeerConns() {
		peers = append(peers, peerView{rankKey(pc.PeerID, ih), pc.PeerPieces()})
	}
	complete := func(i int) bool { return t.Piece(i).State().Complete }
	return pickOwn(t.NumPieces(), complete, rankKey(me, ih), peers, unseenHosts(swarm, len(peers)), left, patience, time.Now())
}

// unseenHosts is the hosts of a swarm that its trackers count swarm
// hosts in (0: not known) that a host connected to peers of them does
// not see.
func unseenHosts(swarm, peers int) int {
	return max(0, swarm-1-peers)
}

// peerView is a connected peer as the ranking sees it: its rank key for
// the torrent and the pieces it has.
type peerView struct {
	key  uint64
	have *roaring.Bitmap
}

// pickOwn returns the first of n pieces, not complete and not had by
// any peer, that the host of key me fetches at now: one whose turn
// (turnWait) has come since it first left it to others (left records
// since when); a turn of 0 at once. unseen is the number of hosts of the
// swarm, besides itself and peers, that it is not connected to (0 when
// the swarm is no larger than the peers). -1 when there is none.
func pickOwn(n int, complete func(int) bool, me uint64, peers []peerView, unseen int, left map[int]time.Time, patience time.Duration, now time.Time) int {
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
		if had {
			continue
		}
		wait := turnWait(r, score, unseen, patience)
		if wait <= 0 {
			return i
		}
		first, ok := left[i]
		if !ok {
			left[i] = now
		} else if now.Sub(first) >= wait {
			return i
		}
	}
	return -1
}

// turnWait is how long a host whose score for a piece is score waits for
// hosts ranked above it to bring the piece, when r connected peers that
// lack it rank above it and unseen hosts are not connected.
//
// With every host of the swarm connected (unseen 0), it is r x
// patience: the host ranked first fetches at once, the next one after a
// patience, and so on. Among more hosts than one connects to
// (peers-per-torrent, 50), a host ranks first among its own peers for
// about one piece in 51, so one host in 51 of the swarm would fetch each
// piece at once. So with unseen hosts a host also counts those of them
// ranked above it, as its score says: the share of scores above it
// (rank's values are uniform) times unseen, which makes x hosts ranked
// above it in all. It waits 1.5 ln(1 + x) patiences: by t patiences
// about e^(t/1.5) - 1 hosts of the swarm have had their turn, one in the
// first patience, three by the second, 13 by the fourth, so that a piece
// is fetched by about one host while it is fetched and spreads, and by
// many before a request stalls (stall, 5 s by default) when the first
// ones do not bring it.
func turnWait(r int, score uint64, unseen int, patience time.Duration) time.Duration {
	if unseen <= 0 {
		return time.Duration(r) * patience
	}
	above := 1 - float64(score)/(1<<64)
	return turns(float64(r)+above*float64(unseen), patience)
}

// turns is how long a host waits when x hosts rank above it for a piece
// and any of them may bring it: 1.5 ln(1 + x) patiences (see turnWait).
func turns(x float64, patience time.Duration) time.Duration {
	return time.Duration(1.5 * math.Log1p(x) * float64(patience))
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
