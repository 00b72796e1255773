package pieces

import "crypto/sha256"

// BlockSize is the size of a BitTorrent v2 merkle leaf: each 16 KiB block
// of a file is hashed with SHA-256 (BEP 52).
const BlockSize = 16 << 10

// V2Size is the size of one v2 hash (SHA-256).
const V2Size = sha256.Size

// zeroLeaf stands for the leaves past the end of a file: BEP 52 sets them
// to zero.
var zeroLeaf [V2Size]byte

// blockLeaves appends the SHA-256 of each BlockSize block of b (the last
// one as long as it is, not padded) to leaves.
func blockLeaves(b []byte, leaves [][V2Size]byte) [][V2Size]byte {
	for off := 0; off < len(b); off += BlockSize {
		leaves = append(leaves, sha256.Sum256(b[off:min(off+BlockSize, len(b))]))
	}
	return leaves
}

// merkleRoot returns the root of the binary SHA-256 tree over nodes,
// padded with pad to width nodes (width is a power of two of at least
// len(nodes)). Each inner node is the SHA-256 of its two children.
func merkleRoot(nodes [][V2Size]byte, width int, pad [V2Size]byte) [V2Size]byte {
	level := make([][V2Size]byte, width)
	copy(level, nodes)
	for i := len(nodes); i < width; i++ {
		level[i] = pad
	}
	var pair [2 * V2Size]byte
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			copy(pair[:V2Size], level[2*i][:])
			copy(pair[V2Size:], level[2*i+1][:])
			level[i] = sha256.Sum256(pair[:])
		}
		level = level[:len(level)/2]
		// Padding nodes one level up are the hash of two padding nodes.
		copy(pair[:V2Size], pad[:])
		copy(pair[V2Size:], pad[:])
		pad = sha256.Sum256(pair[:])
	}
	return level[0]
}

// pow2 returns the smallest power of two that is at least n (1 for n <= 1).
func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// finishRoot sets the v2 pieces root of d, whose Layer is complete and
// whose Root holds, from pieceHasher.finish, the root of its first piece's blocks:
// the pieces root of a file of one piece (or none, all zeros). A longer
// file has the piece layer under its root, padded with the hash of a
// piece of zero leaves.
func (d *Digests) finishRoot() {
	n := len(d.Layer) / V2Size
	if n < 2 {
		return
	}
	layer := make([][V2Size]byte, n)
	for i := range layer {
		copy(layer[i][:], d.Layer[i*V2Size:])
	}
	padPiece := merkleRoot(nil, int(d.PieceLength/BlockSize), zeroLeaf)
	d.Root = merkleRoot(layer, pow2(n), padPiece)
}
