package pieces

import (
	"crypto/sha1"
	"errors"
	"fmt"
	stdhash "hash"
	"io"
	"runtime"
	"sync"
)

// HashSize is the size of one SHA-1 piece digest.
const HashSize = sha1.Size

// MinLength and MaxLength bound the piece lengths this package accepts.
// BEP 3 requires a power of two; 16 KiB is the block size of the wire
// protocol, below which a piece cannot be requested.
const (
	MinLength = 16 << 10
	MaxLength = 64 << 20
)

// ErrPieceLength reports a piece length that is not a power of two between
// MinLength and MaxLength.
var ErrPieceLength = errors.New("piece length must be a power of two between 16 KiB and 64 MiB")

// ValidLength reports whether n is an acceptable piece length.
func ValidLength(n int64) bool {
	return n >= MinLength && n <= MaxLength && n&(n-1) == 0
}

// Digests are the piece digests of one file hashed on its own, as the
// multi-file "pkgtorrent" layout needs them: every file starts on a piece
// boundary, so its digests can be reused in any torrent that holds it.
type Digests struct {
	// PieceLength is the piece length the digests were computed with.
	PieceLength int64
	// Size is the number of bytes hashed.
	Size int64
	// Padded holds one digest per piece. When Size is not a multiple of
	// PieceLength, the last digest covers the file's tail followed by zero
	// bytes up to a full piece (the file is followed by a padding entry).
	Padded []byte
	// Tail is the digest of the bare tail (the last Size mod PieceLength
	// bytes without zeros): the last piece when the file ends the torrent.
	// It is meaningful only when HasTail reports true.
	Tail [HashSize]byte

	// V2 reports whether Layer and Root hold the file's BitTorrent v2
	// hashes (HashHybrid computes them, Hash does not).
	V2 bool
	// Layer is the v2 piece layer: the SHA-256 merkle hash of each piece,
	// V2Size bytes per piece. A file's tail piece is hashed over its blocks
	// followed by zero leaves up to a full piece, as BEP 52 requires.
	Layer []byte
	// Root is the v2 pieces root: the root of the merkle tree over the
	// file's 16 KiB blocks. It is all zeros for an empty file, which has
	// none.
	Root [V2Size]byte
}

// NumPieces is the number of pieces of the file.
func (d *Digests) NumPieces() int { return len(d.Padded) / HashSize }

// HasTail reports whether the file ends in a partial piece.
func (d *Digests) HasTail() bool { return d.Size%d.PieceLength != 0 }

// Padding is the number of zero bytes that bring the file to a piece
// boundary: 0 when its size is an exact multiple of the piece length.
func (d *Digests) Padding() int64 {
	if !d.HasTail() {
		return 0
	}
	return d.PieceLength - d.Size%d.PieceLength
}

// Unpadded returns the digests of the file when it ends the torrent: the
// same as Padded, except that the last piece is the bare tail. It does not
// modify d.
func (d *Digests) Unpadded() []byte {
	if !d.HasTail() {
		return d.Padded
	}
	out := make([]byte, len(d.Padded))
	copy(out, d.Padded)
	copy(out[len(out)-HashSize:], d.Tail[:])
	return out
}

// Hash reads r to its end and returns its v1 piece digests for the given
// piece length. It reads one piece at a time, so memory does not grow with
// the size of the input.
func Hash(r io.Reader, pieceLength int64) (*Digests, error) {
	return hash(r, pieceLength, false)
}

// HashHybrid is Hash that also computes the v2 piece layer and pieces root
// (BEP 52) in the same single read of r: each piece is hashed with SHA-1,
// and each of its 16 KiB blocks with SHA-256.
func HashHybrid(r io.Reader, pieceLength int64) (*Digests, error) {
	return hash(r, pieceLength, true)
}

func hash(r io.Reader, pieceLength int64, v2 bool) (*Digests, error) {
	if !ValidLength(pieceLength) {
		return nil, fmt.Errorf("hash: %d: %w", pieceLength, ErrPieceLength)
	}
	d := &Digests{PieceLength: pieceLength, V2: v2}
	ph := newPieceHasher(d)
	defer ph.release()
	for i := int64(0); ; i++ {
		ph.start()
		var n int64
		var end error
		for n < pieceLength && end == nil {
			b := ph.buf[:min(int64(len(ph.buf)), pieceLength-n)]
			m, err := io.ReadFull(r, b)
			ph.write(b[:m])
			n += int64(m)
			end = err
		}
		if n > 0 {
			d.Size += n
			d.Padded = append(d.Padded, make([]byte, HashSize)...)
			if v2 {
				d.Layer = append(d.Layer, make([]byte, V2Size)...)
			}
			ph.finish(i, n)
		}
		switch {
		case end == nil:
			continue
		case errors.Is(end, io.EOF), errors.Is(end, io.ErrUnexpectedEOF):
			if v2 {
				d.finishRoot()
			}
			return d, nil
		default:
			return nil, fmt.Errorf("hash: after %d bytes: %w", d.Size, end)
		}
	}
}

// pieceHasher hashes the pieces of one file, one at a time, streaming each
// through a buffer of at most ChunkSize bytes (start, write, finish), so
// that its memory does not grow with the piece length: a 64 MiB piece
// needs no 64 MiB buffer. Its buffer counts against the process's
// BufferBudget.
//
// Several pieceHashers may hash pieces of one Digests concurrently: piece
// i writes only its own digests, and the tail and the first piece
// (d.Tail, d.Root) are finished by one call each.
type pieceHasher struct {
	d      *Digests
	buf    []byte
	h      stdhash.Hash
	leaves [][V2Size]byte
}

// newPieceHasher returns a pieceHasher for d, waiting for room in the
// buffer budget. Call release when done.
func newPieceHasher(d *Digests) *pieceHasher {
	n := min(d.PieceLength, int64(ChunkSize))
	return &pieceHasher{d: d, buf: buffers.acquire(n), h: sha1.New()}
}

// release returns the buffer to the budget.
func (p *pieceHasher) release() {
	buffers.release(p.buf)
	p.buf = nil
}

// start begins a piece.
func (p *pieceHasher) start() {
	p.h.Reset()
	p.leaves = p.leaves[:0]
}

// write hashes the next bytes of the piece. Every call but a piece's last
// must hand a multiple of BlockSize bytes, as the buffer's length is.
func (p *pieceHasher) write(b []byte) {
	p.h.Write(b)
	if p.d.V2 {
		p.leaves = blockLeaves(b, p.leaves)
	}
}

// finish puts the digests of piece i, of which n bytes were written, in
// d.Padded and, when d.V2, in d.Layer (both already long enough). A
// partial piece is the file's tail: the digest of its bare bytes goes to
// d.Tail, and the padded digest goes on over zeros to a whole piece.
func (p *pieceHasher) finish(i, n int64) {
	d := p.d
	if d.V2 {
		h := merkleRoot(p.leaves, int(d.PieceLength/BlockSize), zeroLeaf)
		copy(d.Layer[i*V2Size:], h[:])
		if i == 0 {
			// The pieces root of a file of one piece, whose tree is
			// only as wide as its blocks; finishRoot replaces it for
			// a longer file.
			d.Root = merkleRoot(p.leaves, pow2(len(p.leaves)), zeroLeaf)
		}
	}
	sum := d.Padded[i*HashSize : i*HashSize : (i+1)*HashSize]
	if n == d.PieceLength {
		p.h.Sum(sum)
		return
	}
	// The tail is hashed once, its bare digest taken half-way.
	p.h.Sum(d.Tail[:0])
	for left := d.PieceLength - n; left > 0; {
		z := zeroChunk[:min(left, int64(len(zeroChunk)))]
		p.h.Write(z)
		left -= int64(len(z))
	}
	p.h.Sum(sum)
}

// ChunkSize is the most of a piece a pieceHasher reads at once: its
// buffer, whatever the piece length (smaller pieces take smaller
// buffers). A variable so that tests can make pieces span many chunks.
var ChunkSize = 1 << 20

// BufferBudget bounds the bytes of piece buffers in flight in the whole
// process, over every file and request (the lane engine's buffers, fixed
// per core, come on top): 2 chunks per core, at least 16 MiB. A hasher
// waits for room before it reads anything, and holds none while it waits.
var BufferBudget = max(16<<20, int64(2*runtime.GOMAXPROCS(0)*ChunkSize))

// buffers holds the piece buffers, in flight and free, within
// BufferBudget.
var buffers = &budget{}

// budget hands out buffers while the bytes in use stay within
// BufferBudget, and keeps the ones released for reuse, within the same
// bytes: the buffers the process holds, in use or free, never take more,
// and hashing many small files allocates no buffer per file.
type budget struct {
	mu    sync.Mutex
	cond  sync.Cond
	inUse int64
	free  [][]byte
	held  int64 // bytes of free
	// peak is the most inUse has been, for tests.
	peak int64
}

// acquire returns a buffer of n bytes, with unspecified content, waiting
// until the budget has room for it.
func (b *budget) acquire(n int64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond.L == nil {
		b.cond.L = &b.mu
	}
	// A request larger than the whole budget still goes, alone.
	for b.inUse > 0 && b.inUse+n > BufferBudget {
		b.cond.Wait()
	}
	b.inUse += n
	b.peak = max(b.peak, b.inUse)
	for i, buf := range b.free {
		if int64(cap(buf)) >= n {
			b.free = append(b.free[:i], b.free[i+1:]...)
			b.held -= int64(cap(buf))
			return buf[:n]
		}
	}
	// Free buffers of other sizes make room for a new one.
	for len(b.free) > 0 && b.held+b.inUse > BufferBudget {
		b.held -= int64(cap(b.free[0]))
		b.free = b.free[1:]
	}
	return make([]byte, n)
}

// release returns buf, from acquire.
func (b *budget) release(buf []byte) {
	b.mu.Lock()
	b.inUse -= int64(len(buf))
	if b.held+b.inUse+int64(cap(buf)) <= BufferBudget {
		b.free = append(b.free, buf)
		b.held += int64(cap(buf))
	}
	if b.cond.L != nil {
		b.cond.Broadcast()
	}
	b.mu.Unlock()
}
