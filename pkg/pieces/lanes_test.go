package pieces

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces/internal/sha1x16"
)

// forceLanes makes every HashAt of the test use the lane engine (min 1:
// even a single piece runs in the lanes) or its crypto/sha1 path for
// small loads (min above the lane count); use false forces crypto/sha1.
func forceLanes(t *testing.T, use bool, minimum int) {
	t.Helper()
	p := SHA1Read
	if use {
		p = LanesMapped
	}
	forcePath(t, p, minimum)
}

// forcePath makes every HashAt of the test take path p, with the lane
// engine's scalar threshold at minimum.
func forcePath(t *testing.T, p Path, minimum int) {
	t.Helper()
	if p.lanes() && !sha1x16.Available {
		// The development and CI machines have AVX-512; elsewhere, say
		// so explicitly to skip.
		if os.Getenv("PKGTORRENT_TEST_NO_AVX512") == "1" {
			t.Skip("this CPU has no AVX-512 (PKGTORRENT_TEST_NO_AVX512=1): the lane engine is not tested")
		}
		t.Fatal("this CPU has no AVX-512: the lane engine cannot be tested here (PKGTORRENT_TEST_NO_AVX512=1 skips)")
	}
	old, oldMin := Chosen(), laneMinimum
	if err := SetPath(p); err != nil {
		t.Fatal(err)
	}
	laneMinimum = minimum
	t.Cleanup(func() {
		chosen.Store(&old)
		laneMinimum = oldMin
	})
}

// laneSizes are file sizes around every boundary the engine handles:
// blocks, the tail's last whole block, chunks and pieces.
func laneSizes(pl int64) []int64 {
	sizes := []int64{0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000}
	for _, base := range []int64{laneChunk, pl, 2 * pl, 3*pl + laneChunk} {
		for _, d := range []int64{-65, -64, -63, -1, 0, 1, 63, 64, 65} {
			if base+d > 0 {
				sizes = append(sizes, base+d)
			}
		}
	}
	return sizes
}

// TestLanesAgainstReference hashes many files at once, so that their
// pieces share the lanes at every offset, and checks each against
// refPieces (crypto/sha1 over each piece, in the test).
func TestLanesAgainstReference(t *testing.T) {
	for _, mode := range []struct {
		name  string
		lanes bool
		min   int
	}{
		{"lanes", true, 1},
		{"lanes-and-scalar", true, laneMinimum},
		{"scalar-path-of-engine", true, sha1x16.Lanes + 1},
		{"goroutines", false, 1},
	} {
		t.Run(mode.name, func(t *testing.T) {
			forceLanes(t, mode.lanes, mode.min)
			for _, pl := range []int64{MinLength, 256 << 10, 1 << 20} {
				sizes := laneSizes(pl)
				data := randomBytes(uint64(pl), int(sizes[len(sizes)-1])+pl2(pl))
				var wg sync.WaitGroup
				errs := make([]error, len(sizes))
				for k, size := range sizes {
					// Each file starts at its own offset of data, so
					// no two files have the same bytes.
					file := data[k*7 : k*7+int(size)]
					wg.Go(func() {
						got, err := HashAt(bytes.NewReader(file), size, pl, false, 2)
						if err != nil {
							errs[k] = err
							return
						}
						padded, tail, hasTail := refPieces(file, int(pl))
						switch {
						case got.Size != size:
							errs[k] = fmt.Errorf("size %d, want %d", got.Size, size)
						case !bytes.Equal(got.Padded, padded):
							errs[k] = fmt.Errorf("padded digests differ from crypto/sha1's")
						case hasTail && got.Tail != tail:
							errs[k] = fmt.Errorf("tail digest %x, crypto/sha1 %x", got.Tail, tail)
						}
					})
				}
				wg.Wait()
				for k, err := range errs {
					if err != nil {
						t.Errorf("piece length %d, size %d: %v", pl, sizes[k], err)
					}
				}
			}
		})
	}
}

func pl2(pl int64) int { return int(2*pl) + 1000 }

// failingReader fails every read that reaches byte at.
type failingReader struct {
	r     io.ReaderAt
	at    int64
	panic bool
}

var errDisk = errors.New("input/output error")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		if f.panic {
			panic("reader broke")
		}
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

// TestLanesReadErrors: a file whose reads fail (or panic) gets its error,
// while files hashed at the same time in the same lanes are right, and
// the engine goes on working.
func TestLanesReadErrors(t *testing.T) {
	forceLanes(t, true, 1)
	const pl = MinLength
	data := randomBytes(7, 40*pl+100)
	var wg sync.WaitGroup
	for k := range 24 {
		wg.Go(func() {
			size := int64(len(data) - k)
			var r io.ReaderAt = bytes.NewReader(data[:size])
			bad := k%3 == 0
			if bad {
				r = failingReader{r: r, at: int64(k) * pl / 2, panic: k%2 == 0}
			}
			got, err := HashAt(r, size, pl, false, 2)
			switch {
			case bad && err == nil:
				t.Errorf("file %d: reads failed but HashAt succeeded", k)
			case bad && k%2 == 1 && !errors.Is(err, errDisk):
				t.Errorf("file %d: error %v, want the reader's", k, err)
			case !bad && err != nil:
				t.Errorf("file %d: %v", k, err)
			case !bad:
				padded, tail, _ := refPieces(data[:size], pl)
				if !bytes.Equal(got.Padded, padded) || got.Tail != tail {
					t.Errorf("file %d: digests differ from crypto/sha1's", k)
				}
			}
		})
	}
	wg.Wait()
	// Still working.
	got, err := HashAt(bytes.NewReader(data), int64(len(data)), pl, false, 2)
	if padded, _, _ := refPieces(data, pl); err != nil || !bytes.Equal(got.Padded, padded) {
		t.Fatalf("after the errors: %v", err)
	}
}

// TestLanesMapped hashes real files, which the lane engine maps in
// windows instead of reading, for sizes around block, window and piece
// boundaries, against crypto/sha1 in the test; then the same files with
// mapping off.
func TestLanesMapped(t *testing.T) {
	for _, mmap := range []bool{true, false} {
		t.Run(fmt.Sprintf("mmap=%v", mmap), func(t *testing.T) {
			p := LanesRead
			if mmap {
				p = LanesMapped
			}
			forcePath(t, p, 1)
			dir := t.TempDir()
			for _, pl := range []int64{MinLength, 4 << 20} {
				sizes := laneSizes(pl)
				for _, d := range []int64{-65, -1, 0, 1, 65} {
					sizes = append(sizes, laneWindow+d, 2*laneWindow+d)
				}
				data := randomBytes(uint64(pl)+3, int(slices.Max(sizes))+len(sizes)*7)
				var wg sync.WaitGroup
				for k, size := range sizes {
					file := data[k*7 : k*7+int(size)]
					name := filepath.Join(dir, fmt.Sprintf("%d-%d", pl, k))
					if err := os.WriteFile(name, file, 0o644); err != nil {
						t.Fatal(err)
					}
					wg.Go(func() {
						f, err := os.Open(name)
						if err != nil {
							t.Error(err)
							return
						}
						defer f.Close()
						got, err := HashAt(f, size, pl, false, 2)
						if err != nil {
							t.Errorf("piece length %d, size %d: %v", pl, size, err)
							return
						}
						padded, tail, hasTail := refPieces(file, int(pl))
						if !bytes.Equal(got.Padded, padded) || (hasTail && got.Tail != tail) {
							t.Errorf("piece length %d, size %d: digests differ from crypto/sha1's", pl, size)
						}
					})
				}
				wg.Wait()
			}
		})
	}
}

// TestLanesUnmappable: when a file cannot be mapped (some file systems
// cannot), the lanes read it instead, also from the middle of a piece,
// and the digests are right.
func TestLanesUnmappable(t *testing.T) {
	forceLanes(t, true, 1)
	const pl = 4 << 20
	var maps atomic.Int64
	old := mapWindow
	mapWindow = func(f *os.File, off, n int64) ([]byte, error) {
		// The first window of each piece maps; later ones fail.
		if off%pl != 0 {
			return nil, syscall.ENODEV
		}
		maps.Add(1)
		return old(f, off, n)
	}
	t.Cleanup(func() { mapWindow = old })
	dir := t.TempDir()
	data := randomBytes(13, int(3*pl+3*laneWindow/2+7))
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := HashAt(f, int64(len(data)), pl, false, 2)
	if err != nil {
		t.Fatal(err)
	}
	padded, tail, _ := refPieces(data, pl)
	if !bytes.Equal(got.Padded, padded) || got.Tail != tail {
		t.Error("digests differ from crypto/sha1's")
	}
	if maps.Load() == 0 {
		t.Error("no window was mapped: the test did not switch from mapping to reading")
	}
}

// TestLanesMappedShrunk: a mapped file shorter than the size asked for
// (as when it is truncated while hashed) makes the lane fault (SIGBUS);
// the process survives, that file fails with io.ErrUnexpectedEOF, files
// hashed beside it either succeed or fail the same way (to be hashed
// again), and the engine keeps working.
func TestLanesMappedShrunk(t *testing.T) {
	forceLanes(t, true, 1)
	const pl = MinLength
	dir := t.TempDir()
	data := randomBytes(11, 40*pl)
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, data[:3*pl+5], 0o644); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole")
	if err := os.WriteFile(whole, data, 0o644); err != nil {
		t.Fatal(err)
	}
	hash := func(name string, size int64) (*Digests, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return HashAt(f, size, pl, false, 2)
	}
	var wg sync.WaitGroup
	for k := range 8 {
		wg.Go(func() {
			if k%2 == 0 {
				if _, err := hash(short, int64(len(data))); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("file shorter than its size: error %v, want io.ErrUnexpectedEOF", err)
				}
				return
			}
			got, err := hash(whole, int64(len(data)))
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("file beside it: error %v, want none or io.ErrUnexpectedEOF", err)
			}
			if padded, _, _ := refPieces(data, pl); err == nil && !bytes.Equal(got.Padded, padded) {
				t.Errorf("file beside it: digests differ from crypto/sha1's")
			}
		})
	}
	wg.Wait()
	got, err := hash(whole, int64(len(data)))
	if padded, _, _ := refPieces(data, pl); err != nil || !bytes.Equal(got.Padded, padded) {
		t.Fatalf("after the faults: %v", err)
	}
}

func TestWindowFor(t *testing.T) {
	for procs, want := range map[int]int64{1: 1 << 20, 2: 1 << 20, 3: 682 << 10, 4: 512 << 10, 8: 256 << 10, 64: 256 << 10} {
		if got := windowFor(procs); got/1024 != want/1024 {
			t.Errorf("windowFor(%d) = %d KiB, want %d KiB", procs, got>>10, want>>10)
		}
	}
}

// TestLanesPanicIsAnError: a panic in a lane step that is not a memory
// fault (a bug) fails the files in the lanes with an error that is not
// io.ErrUnexpectedEOF (so that it is not taken for a changed file), the
// process goes on, and so does the engine.
func TestLanesPanicIsAnError(t *testing.T) {
	forceLanes(t, true, 1)
	old := mapWindow
	mapWindow = func(*os.File, int64, int64) ([]byte, error) { panic("a bug") }
	t.Cleanup(func() { mapWindow = old })
	name := filepath.Join(t.TempDir(), "f")
	data := randomBytes(17, 5*MinLength)
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	hash := func() (*Digests, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return HashAt(f, int64(len(data)), MinLength, false, 2)
	}
	if _, err := hash(); err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("panic in a lane: error %v, want an error other than io.ErrUnexpectedEOF", err)
	}
	mapWindow = old
	got, err := hash()
	if padded, _, _ := refPieces(data, MinLength); err != nil || !bytes.Equal(got.Padded, padded) {
		t.Fatalf("after the panic: %v", err)
	}
}
