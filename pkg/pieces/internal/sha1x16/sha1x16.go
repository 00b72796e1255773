// Package sha1x16 computes 16 SHA-1 digests at once, one in each 32-bit
// lane of the AVX-512 registers. BitTorrent pieces are independent SHA-1
// messages of one length, so 16 of them can run in lockstep: on a core
// with AVX-512 that is several times the throughput of one SHA-1 with the
// CPU's SHA instructions, which crypto/sha1 uses (BenchmarkBlocks against
// BenchmarkCryptoSHA1).
//
// The package only runs the compression function over whole 64-byte
// blocks; the caller feeds each lane its message blocks (including the
// final padding block, see PadBlock) and reads the lanes' states.
// Available reports whether the kernel can run; when it is false, Blocks
// panics and callers use crypto/sha1.
package sha1x16

import (
	"encoding/binary"
	"errors"
	"hash"
)

// Lanes is the number of messages hashed at once.
const Lanes = 16

// BlockSize is the SHA-1 block size.
const BlockSize = 64

// State is the state of 16 SHA-1 computations: State[i][l] is word i of
// the state of lane l.
type State [5][Lanes]uint32

var iv = [5]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}

// Reset sets lane l to the initial SHA-1 state.
func (s *State) Reset(l int) {
	for i := range iv {
		s[i][l] = iv[i]
	}
}

// Sum returns lane l's state as a digest: the SHA-1 of its message once
// the message's padding block has been processed.
func (s *State) Sum(l int) (d [20]byte) {
	for i := range iv {
		binary.BigEndian.PutUint32(d[4*i:], s[i][l])
	}
	return d
}

// Blocks processes n 64-byte blocks of each lane: lane l reads its blocks
// from p[l], which must hold at least 64n bytes. Lanes without a message
// may point at any readable 64n bytes (a zero buffer) and are ignored.
// It panics when Available is false.
func Blocks(s *State, p *[Lanes]*byte, n int) {
	if !Available {
		panic("sha1x16: Blocks without AVX-512")
	}
	if n > 0 {
		blocks(s, p, n)
	}
}

// PadBlock returns the final block of a SHA-1 message whose length is a
// multiple of 64 bytes: 0x80, zeros, and the length in bits.
func PadBlock(length int64) (b [BlockSize]byte) {
	b[0] = 0x80
	binary.BigEndian.PutUint64(b[56:], uint64(length)*8)
	return b
}

// Resume returns a crypto/sha1 hash in lane l's state after n bytes, n a
// multiple of 64: writing the rest of a message to it and calling Sum
// gives that message's digest. It lets a lane's message end anywhere (a
// file's last bytes) while the lane goes on with other blocks.
func (s *State) Resume(l int, n int64, h hash.Hash) error {
	if n%BlockSize != 0 {
		return errors.New("sha1x16: resume after a partial block")
	}
	// crypto/sha1's marshalled state: magic, the five words, the
	// buffered block (empty here), the length.
	var b [4 + 20 + BlockSize + 8]byte
	copy(b[:], "sha\x01")
	for i := range iv {
		binary.BigEndian.PutUint32(b[4+4*i:], s[i][l])
	}
	binary.BigEndian.PutUint64(b[4+20+BlockSize:], uint64(n))
	u, ok := h.(interface{ UnmarshalBinary([]byte) error })
	if !ok {
		return errors.New("sha1x16: hash cannot be resumed")
	}
	return u.UnmarshalBinary(b[:])
}
