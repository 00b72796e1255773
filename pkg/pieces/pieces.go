// Package pieces computes BitTorrent v1 piece digests of a file's bytes.
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

// Hash reads r to its end and returns its piece digests for the given
// piece length. It reads one piece at a time, so memory does not grow with
// the size of the input.
func Hash(r io.Reader, pieceLength int64) (*Digests, error) {
	if !ValidLength(pieceLength) {
		return nil, fmt.Errorf("hash: %d: %w", pieceLength, ErrPieceLength)
	}
	d := &Digests{PieceLength: pieceLength}
	buf := make([]byte, pieceLength)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			d.Size += int64(n)
			if int64(n) < pieceLength {
				d.Tail = sha1.Sum(buf[:n])
				clear(buf[n:])
			}
			sum := sha1.Sum(buf)
			d.Padded = append(d.Padded, sum[:]...)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return d, nil
		default:
			return nil, fmt.Errorf("hash: after %d bytes: %w", d.Size, err)
		}
	}
}
