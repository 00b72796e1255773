package pieces

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// TestHashAtMatchesHash checks the parallel hasher against the sequential
// one (itself checked against crypto/sha1 in pieces_test.go) for sizes
// around piece boundaries, both layouts and several worker counts.
func TestHashAtMatchesHash(t *testing.T) {
	const pl = MinLength
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 9*pl+77)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, size := range []int64{0, 1, pl - 1, pl, pl + 1, 3 * pl, 5*pl + 3, int64(len(data))} {
		for _, v2 := range []bool{false, true} {
			want, err := hash(bytes.NewReader(data[:size]), pl, v2)
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2, 3, 16} {
				got, err := HashAt(bytes.NewReader(data), size, pl, v2, workers)
				if err != nil {
					t.Fatalf("size %d v2 %v workers %d: %v", size, v2, workers, err)
				}
				if got.Size != want.Size || !bytes.Equal(got.Padded, want.Padded) || got.Tail != want.Tail ||
					!bytes.Equal(got.Layer, want.Layer) || got.Root != want.Root || got.V2 != want.V2 {
					t.Errorf("size %d v2 %v workers %d: HashAt differs from Hash", size, v2, workers)
				}
			}
		}
	}
}

func TestHashAtShortInput(t *testing.T) {
	_, err := HashAt(bytes.NewReader(make([]byte, 3*MinLength)), 4*MinLength, MinLength, false, 2)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := HashAt(bytes.NewReader(nil), 0, 1000, false, 2); !errors.Is(err, ErrPieceLength) {
		t.Errorf("bad piece length: error = %v, want ErrPieceLength", err)
	}
}

// BenchmarkHashAt hashes 64 MiB from memory in 1 MiB pieces: in the
// lane engine (when the CPU has AVX-512), and with crypto/sha1 on one and
// two goroutines.
func BenchmarkHashAt(b *testing.B) {
	data := make([]byte, 64<<20)
	for _, bc := range []struct {
		name    string
		lanes   bool
		workers int
	}{{"lanes", true, 2}, {"crypto-sha1-1worker", false, 1}, {"crypto-sha1-2workers", false, 2}} {
		if bc.lanes && !UseLanes {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			old := UseLanes
			UseLanes = bc.lanes
			defer func() { UseLanes = old }()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := HashAt(bytes.NewReader(data), int64(len(data)), 1<<20, false, bc.workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
