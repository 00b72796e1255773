package pieces

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
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

// BenchmarkHashAt hashes 64 MiB in 1 MiB pieces along each available
// path: from memory, and from a file in the page cache (where the
// lanes-mmap path maps it; from memory it reads like lanes-pread). The
// crypto/sha1 path runs on one goroutine and on one per core.
func BenchmarkHashAt(b *testing.B) {
	data := randomBytes(9, 64<<20)
	name := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, src := range []struct {
		name string
		r    io.ReaderAt
	}{{"memory", bytes.NewReader(data)}, {"file", f}} {
		for p := range numPaths {
			if !p.Available() || (src.name == "memory" && p == LanesMapped) {
				continue
			}
			workers := []int{runtime.GOMAXPROCS(0)}
			if p == SHA1Read {
				workers = []int{1, runtime.GOMAXPROCS(0)}
			}
			for _, w := range workers {
				b.Run(fmt.Sprintf("%s/%s/workers=%d", src.name, p, w), func(b *testing.B) {
					b.SetBytes(int64(len(data)))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := hashAtPath(src.r, int64(len(data)), 1<<20, w, p); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkCalibrate is the calibration HashAt runs once per process.
func BenchmarkCalibrate(b *testing.B) {
	var c Choice
	for b.Loop() {
		c = Calibrate()
	}
	b.Log(c)
}
