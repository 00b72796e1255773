package pieces

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"sync"
	"testing"
)

// smallChunks makes pieces span many chunks: 32 KiB (two v2 blocks).
func smallChunks(t *testing.T) {
	t.Helper()
	old := ChunkSize
	ChunkSize = 2 * BlockSize
	t.Cleanup(func() { ChunkSize = old })
}

// TestChunkedPieces hashes pieces that span many chunks, for sizes around
// block, chunk and piece boundaries, with Hash, HashHybrid and HashAt (the
// crypto/sha1 path, which hybrid torrents always take), and checks every
// digest against SHA-1 and SHA-256 trees computed here from the whole
// pieces.
func TestChunkedPieces(t *testing.T) {
	smallChunks(t)
	forceLanes(t, false, 0)
	const pl = 256 << 10 // 8 chunks, 16 blocks a piece
	chunk := int(ChunkSize)
	sizes := []int{0, 1, BlockSize - 1, BlockSize + 1, chunk - 1, chunk, chunk + 1, pl - 1, pl, pl + 1, 2*pl + chunk + 5, 3 * pl}
	for _, size := range sizes {
		data := content(size)
		padded, tail, hasTail := refPieces(data, pl)
		var layer []byte
		for off := 0; off < size; off += pl {
			s := naiveTree(data[off:min(off+pl, size)], pl/BlockSize)
			layer = append(layer, s[:]...)
		}
		var root [32]byte
		if size > 0 {
			root = naiveTree(data, 1)
		}
		for _, v2 := range []bool{false, true} {
			check := func(how string, d *Digests, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("size %d v2 %v %s: %v", size, v2, how, err)
				}
				if !bytes.Equal(d.Padded, padded) {
					t.Errorf("size %d v2 %v %s: padded digests differ from SHA-1 of the pieces", size, v2, how)
				}
				if hasTail && d.Tail != tail {
					t.Errorf("size %d v2 %v %s: tail digest %x, want %x", size, v2, how, d.Tail, tail)
				}
				if v2 && (!bytes.Equal(d.Layer, layer) || d.Root != root) {
					t.Errorf("size %d %s: v2 layer or root differ from the SHA-256 trees", size, how)
				}
			}
			d, err := hash(bytes.NewReader(data), pl, v2)
			check("Hash", d, err)
			for _, workers := range []int{1, 3} {
				d, err := HashAt(bytes.NewReader(data), int64(size), pl, v2, workers)
				check(fmt.Sprintf("HashAt with %d workers", workers), d, err)
			}
		}
	}
}

// zeroReaderAt reads as zeros, without holding any memory.
type zeroReaderAt struct{}

func (zeroReaderAt) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

// TestBufferBudget hashes many files at once, with the largest pieces, in
// every way the service hashes (hybrid; v1 without the lanes; v1 in the
// lanes): the piece buffers in flight never pass BufferBudget, and every
// file's digests are right. Before the budget, every worker of every file
// held a whole piece: 4 files on 2 workers with 64 MiB pieces, 512 MiB;
// 50 files with 4 MiB pieces, 400 MiB (issue 11: 2.6 GB of RSS with
// -format hybrid -piece-length 64MiB).
func TestBufferBudget(t *testing.T) {
	for _, tc := range []struct {
		name      string
		v2, lanes bool
		pl        int64
		files     int
	}{
		{"hybrid 64 MiB", true, false, MaxLength, 4},
		{"hybrid 4 MiB", true, false, 4 << 20, 50},
		{"v1 crypto/sha1 64 MiB", false, false, MaxLength, 4},
		{"v1 crypto/sha1 4 MiB", false, false, 4 << 20, 50},
		{"v1 lanes 4 MiB", false, true, 4 << 20, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.lanes {
				forceLanes(t, true, 3)
			} else {
				forceLanes(t, false, 0)
			}
			// Files of a whole piece and a tail: the digests of a
			// zero file, computed here.
			size := tc.pl + 12345
			zeros := sha1.Sum(make([]byte, tc.pl))
			tail := sha1.Sum(make([]byte, 12345))
			buffers.mu.Lock()
			buffers.peak = buffers.inUse
			buffers.mu.Unlock()
			var wg sync.WaitGroup
			for range tc.files {
				wg.Go(func() {
					d, err := HashAt(zeroReaderAt{}, size, tc.pl, tc.v2, 2)
					if err != nil {
						t.Error(err)
						return
					}
					if got := [20]byte(d.Padded); got != zeros {
						t.Errorf("piece 0: %x, want %x", got, zeros)
					}
					if d.Tail != tail {
						t.Errorf("tail: %x, want %x", d.Tail, tail)
					}
				})
			}
			wg.Wait()
			buffers.mu.Lock()
			peak := buffers.peak
			buffers.mu.Unlock()
			if peak > BufferBudget {
				t.Errorf("%d files hashed at once with %d MiB pieces held %d MiB of piece buffers, want at most %d MiB",
					tc.files, tc.pl>>20, peak>>20, BufferBudget>>20)
			}
			t.Logf("peak piece buffers %d MiB (budget %d MiB)", peak>>20, BufferBudget>>20)
		})
	}
}
