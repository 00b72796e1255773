package pieces

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// content returns n deterministic bytes that differ from block to block.
func content(n int) []byte {
	b := make([]byte, 0, n+sha256.Size)
	for i := 0; len(b) < n; i++ {
		s := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		b = append(b, s[:]...)
	}
	return b[:n]
}

// naiveTree returns the root of the full BEP 52 tree of data: one SHA-256
// leaf per 16 KiB block, zero leaves up to a power of two, pairs hashed up
// to the root. Written from the BEP, sharing nothing with merkle.go.
func naiveTree(data []byte, leaves int) [32]byte {
	var level [][32]byte
	for off := 0; off < len(data); off += 16384 {
		level = append(level, sha256.Sum256(data[off:min(off+16384, len(data))]))
	}
	width := 1
	for width < max(len(level), leaves) {
		width *= 2
	}
	for len(level) < width {
		level = append(level, [32]byte{})
	}
	for len(level) > 1 {
		var up [][32]byte
		for i := 0; i < len(level); i += 2 {
			up = append(up, sha256.Sum256(append(level[i][:], level[i+1][:]...)))
		}
		level = up
	}
	return level[0]
}

func TestHashHybrid(t *testing.T) {
	const pl = 64 << 10 // 4 blocks a piece
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"one block", 16384},
		{"block plus one", 16385},
		{"three blocks", 3 * 16384},
		{"one piece", pl},
		{"piece plus one", pl + 1},
		{"three pieces", 3 * pl},
		{"five pieces and a bit", 5*pl + 12345},
		{"nine pieces", 9 * pl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := content(tc.size)
			d, err := HashHybrid(iotest.HalfReader(bytes.NewReader(data)), pl)
			if err != nil {
				t.Fatal(err)
			}
			v1, err := Hash(bytes.NewReader(data), pl)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Padded, v1.Padded) || d.Tail != v1.Tail || d.Size != int64(tc.size) {
				t.Errorf("v1 digests of HashHybrid differ from Hash")
			}
			if v1.V2 || v1.Layer != nil {
				t.Errorf("Hash computed v2 hashes")
			}
			// v1: SHA-1 of each piece, the last one padded with zeros.
			var want []byte
			for off := 0; off < tc.size; off += pl {
				p := make([]byte, pl)
				copy(p, data[off:min(off+pl, tc.size)])
				s := sha1.Sum(p)
				want = append(want, s[:]...)
			}
			if !bytes.Equal(d.Padded, want) {
				t.Errorf("padded v1 digests differ from SHA-1 of the pieces")
			}
			// v2 piece layer: each piece's own tree of 4 leaves.
			want = nil
			for off := 0; off < tc.size; off += pl {
				s := naiveTree(data[off:min(off+pl, tc.size)], pl/16384)
				want = append(want, s[:]...)
			}
			if !d.V2 || !bytes.Equal(d.Layer, want) {
				t.Errorf("piece layer: %d hashes, want %d; equal %v", len(d.Layer)/32, len(want)/32, bytes.Equal(d.Layer, want))
			}
			wantRoot := [32]byte{}
			if tc.size > 0 {
				wantRoot = naiveTree(data, 1)
			}
			if d.Root != wantRoot {
				t.Errorf("pieces root = %x, want %x", d.Root, wantRoot)
			}
		})
	}
}

func TestHashHybridReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(content(100000)), iotest.ErrReader(boom))
	if _, err := HashHybrid(r, 64<<10); !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v wrapped", err, boom)
	}
	if _, err := HashHybrid(bytes.NewReader(nil), 1000); !errors.Is(err, ErrPieceLength) {
		t.Errorf("err = %v, want ErrPieceLength", err)
	}
}

func FuzzHashHybrid(f *testing.F) {
	f.Add(0, byte(0))
	f.Add(16385, byte(1))
	f.Add(3*32768+7, byte(2))
	f.Fuzz(func(t *testing.T, size int, seed byte) {
		if size < 0 || size > 1<<20 {
			return
		}
		data := content(size)
		for i := range data {
			data[i] ^= seed
		}
		d, err := HashHybrid(bytes.NewReader(data), 32<<10)
		if err != nil {
			t.Fatal(err)
		}
		want := [32]byte{}
		if size > 0 {
			want = naiveTree(data, 1)
		}
		if d.Root != want {
			t.Errorf("size %d: pieces root %x, want %x", size, d.Root, want)
		}
	})
}

func BenchmarkHashHybrid(b *testing.B) {
	data := content(8 << 20)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := HashHybrid(bytes.NewReader(data), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
