package agent

import (
	"math"
	"time"

	"github.com/RoaringBitmap/roaring"
	"github.com/anacrolix/torrent"
)

// Which host of those that start a torrent together fetches a piece from
// the mirror: rendezvous hashing of a host's key, the torrent and the
// piece, the same function on every host, so that hosts that rank among
// the same hosts agree on one host for each piece without a word. The
// hosts are the swarm's members as the trackers list them (members.go;
// keys of their addresses), or, when no tracker answered, the connected
// peers (keys of their peer IDs).

// ownPiece returns the first missing piece that no connected peer has
// and that this host fetches now (see pickOwn), ranked among the hosts
// of v (nil: the connected peers, and itself by peer ID me), in a swarm
// of swarm hosts as its trackers count them (0: not known), waiting
// holdWait more when the swarm probably holds the pieces its connected
// peers lack (turnsFor); -1 when there is none.
func ownPiece(t *torrent.Torrent, me [20]byte, v *rankView, swarm int, holdWait time.Duration, left map[int]time.Time, patience time.Duration) int {
	ih := t.InfoHash()
	conns := t.PeerConns()
	haves := make([]*roaring.Bitmap, 0, len(conns))
	var peers rankView
	for _, pc := range conns {
		haves = append(haves, pc.PeerPieces())
		peers.others = append(peers.others, rankKey(pc.PeerID, ih))
	}
	if v == nil {
		peers.me = rankKey(me, ih)
		v = &peers
	}
	patience, holdWait = turnsFor(v, haves, patience, holdWait)
	complete := func(i int) bool { return t.Piece(i).State().Complete }
	return pickOwn(t.NumPieces(), complete, anyHas(haves), v.me, v.others, holdWait, unseenHosts(swarm, len(v.others)), left, patience, time.Now())
}

// anyHas returns whether any of haves holds a piece.
func anyHas(haves []*roaring.Bitmap) func(int) bool {
	return func(i int) bool {
		for _, h := range haves {
			if h.Contains(uint32(i)) {
				return true
			}
		}
		return false
	}
}

// turnsFor returns the patience and the wait for a swarm that holds the
// pieces (pickOwn's) of a host ranking among the hosts of v, connected to
// the peers of haves, from its patience and holdWait: the patience twice
// over when it ranks among more hosts than it is connected to, and is
// connected to some (a piece fetched by a host it is not connected to
// reaches its peers in two hops or more), and holdWait when the swarm
// probably holds the pieces its peers lack (swarmHolds), else none.
func turnsFor(v *rankView, haves []*roaring.Bitmap, patience, holdWait time.Duration) (time.Duration, time.Duration) {
	if len(haves) > 0 && len(v.others) > len(haves) {
		patience *= 2
	}
	if !swarmHolds(v, haves) {
		holdWait = 0
	}
	return patience, holdWait
}

// swarmHolds reports whether the pieces that no connected peer (of
// haves) has are probably in the swarm anyway, for a host ranking among
// the hosts of v and connected to some: the trackers count a seed; or it
// ranks among more hosts than it is connected to, and those it is
// connected to hold pieces (the others have been at the torrent longer
// than this host, and their pieces are on their way to its peers). A
// host connected to none gets nothing from the swarm: the seeds the
// trackers count then are hosts that left without telling them (a
// restarted agent, on another port, is one), or that it cannot reach.
func swarmHolds(v *rankView, haves []*roaring.Bitmap) bool {
	if len(haves) == 0 {
		return false
	}
	if v.seeds > 0 {
		return true
	}
	if len(v.others) <= len(haves) {
		return false
	}
	for _, h := range haves {
		if !h.IsEmpty() {
			return true
		}
	}
	return false
}

// unseenHosts is the hosts of a swarm that its trackers count swarm
// hosts in (0: not known) that a host ranking among others of them does
// not know.
func unseenHosts(swarm, others int) int {
	return max(0, swarm-1-others)
}

// pickOwn returns the first of n pieces, not complete and not had by
// any connected peer, that the host of key me fetches at now, ranked
// among the hosts of keys others: one whose turn (turnWait, and holdWait
// more) has come since it first left it to others (left records since
// when); a turn of 0 at once. holdWait is for a swarm that probably
// holds the pieces no connected peer has (see swarmHolds): they come
// through the swarm unless it is slower than the mirror. The host
// ranked first fetches the pieces it ranks first for one after the
// other, in order: a piece that is its q-th waits q x patience/3 more
// (patience is three times a piece's time from the mirror, or more).
// unseen is the number of hosts of the swarm, besides itself and
// others, that it does not know (0 when the swarm is no larger). -1 when
// there is none.
func pickOwn(n int, complete, had func(int) bool, me uint64, others []uint64, holdWait time.Duration, unseen int, left map[int]time.Time, patience time.Duration, now time.Time) int {
	// queued counts the pieces so far that each host ranks first for
	// (index len(others): this host).
	queued := make([]int, len(others)+1)
	for i := range n {
		if complete(i) || had(i) {
			continue
		}
		r := 0
		score := rank(me, i)
		top, best := len(others), score
		for j, k := range others {
			if x := rank(k, i); x > score {
				r++
				if x > best {
					top, best = j, x
				}
			}
		}
		q := queued[top]
		queued[top]++
		wait := turnWait(r, score, unseen, patience) + holdWait
		if top != len(others) {
			wait += time.Duration(q) * patience / 3
		}
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
// hosts ranked above it to bring the piece, when r of the hosts it ranks
// among rank above it and unseen hosts are not known.
//
// With every host of the swarm known (unseen 0), it is r x patience:
// the host ranked first fetches at once, the next one after a patience,
// and so on. Among more hosts than it knows (more than a tracker lists,
// numWant; or more than it connects to, peers-per-torrent, when no
// tracker answered), a host ranks first among them for about one piece
// in k+1 (k the hosts it knows), so one host in k+1 of the swarm would
// fetch each piece at once. So with unseen hosts a host also counts those of them
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
	return fnv1a(fnv1a(fnvOffset, id[:]), ih[:])
}

// fnvOffset is FNV-1a's offset basis.
const fnvOffset = 14695981039346656037

// fnv1a is FNV-1a's hash h carried on over b.
func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
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
