// Package pieces computes the piece digests of a file's bytes: BitTorrent
// v1 SHA-1 piece digests and, on request in the same read, the BitTorrent
// v2 (BEP 52) SHA-256 merkle piece layer and pieces root.
//
// Hashing is a pure function over an io.Reader: opening files, checking
// them and caching the result happen elsewhere (package piececache and
// package service), so this package is trivially testable and fuzzable.
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
	var leaves [][V2Size]byte // the blocks of the current piece
	var firstLeaves [][V2Size]byte
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			d.Size += int64(n)
			if v2 {
				leaves = blockLeaves(buf[:n], leaves[:0])
				h := merkleRoot(leaves, int(pieceLength/BlockSize), zeroLeaf)
				d.Layer = append(d.Layer, h[:]...)
				if len(d.Layer) == V2Size {
					firstLeaves = append(firstLeaves[:0], leaves...)
				}
			}
			var sum [HashSize]byte
			if int64(n) < pieceLength {
				d.Tail, sum = tailSums(buf, n)
			} else {
				sum = sha1.Sum(buf)
			}
			d.Padded = append(d.Padded, sum[:]...)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			if v2 {
				d.Root = piecesRoot(d, firstLeaves)
			}
			return d, nil
		default:
			return nil, fmt.Errorf("hash: after %d bytes: %w", d.Size, err)
		}
	}
}

// tailSums returns the digests of a file's last piece, whose n bytes start
// buf (a whole piece long): the bare tail, and the tail followed by zeros
// to the piece's end. It hashes the tail once, taking the first digest
// half-way; it zeroes buf after the tail.
func tailSums(buf []byte, n int) (tail, padded [HashSize]byte) {
	clear(buf[n:])
	h := sha1.New()
	h.Write(buf[:n])
	h.Sum(tail[:0])
	h.Write(buf[n:])
	h.Sum(padded[:0])
	return tail, padded
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
