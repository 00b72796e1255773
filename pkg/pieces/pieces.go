package pieces

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
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
	buf := make([]byte, pieceLength)
	var leaves [][V2Size]byte
	for i := int64(0); ; i++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			d.Size += int64(n)
			d.Padded = append(d.Padded, make([]byte, HashSize)...)
			if v2 {
				d.Layer = append(d.Layer, make([]byte, V2Size)...)
			}
			leaves = d.hashPiece(i, buf, n, leaves)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			if v2 {
				d.finishRoot()
			}
			return d, nil
		default:
			return nil, fmt.Errorf("hash: after %d bytes: %w", d.Size, err)
		}
	}
}

// hashPiece puts the digests of piece i, whose n bytes start buf (a whole
// piece long), in d.Padded and, when d.V2, in d.Layer (both already long
// enough). A partial piece is the file's tail: the digest of its bare
// bytes goes to d.Tail. It zeroes buf after the n bytes. leaves is room
// for the piece's v2 block leaves, returned for reuse.
//
// Pieces may be hashed concurrently, each in its own buffer: piece i
// writes only its own digests, and the tail and the first piece (d.Tail,
// d.Root) are written by one call each.
func (d *Digests) hashPiece(i int64, buf []byte, n int, leaves [][V2Size]byte) [][V2Size]byte {
	if d.V2 {
		leaves = blockLeaves(buf[:n], leaves[:0])
		h := merkleRoot(leaves, int(d.PieceLength/BlockSize), zeroLeaf)
		copy(d.Layer[i*V2Size:], h[:])
		if i == 0 {
			// The pieces root of a file of one piece, whose tree is
			// only as wide as its blocks; finishRoot replaces it for
			// a longer file.
			d.Root = merkleRoot(leaves, pow2(len(leaves)), zeroLeaf)
		}
	}
	sum := (*[HashSize]byte)(d.Padded[i*HashSize:])
	if int64(n) == d.PieceLength {
		*sum = sha1.Sum(buf)
		return leaves
	}
	// The tail is hashed once, its bare digest taken half-way.
	clear(buf[n:])
	h := sha1.New()
	h.Write(buf[:n])
	h.Sum(d.Tail[:0])
	h.Write(buf[n:])
	h.Sum(sum[:0])
	return leaves
}

// pieceBuffers recycles piece buffers across files, so that hashing many
// small files does not allocate and clear a piece per file.
var pieceBuffers sync.Pool

// getBuffer returns a buffer of n bytes, with unspecified content.
func getBuffer(n int64) *[]byte {
	if b, ok := pieceBuffers.Get().(*[]byte); ok && int64(cap(*b)) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n)
	return &b
}

func putBuffer(b *[]byte) { pieceBuffers.Put(b) }
