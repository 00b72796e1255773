package pieces

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces/internal/sha1x16"
)

// A Path is one way HashAt computes v1 piece digests of a file.
type Path int

const (
	// LanesMapped hashes 16 pieces per core in the AVX-512 lanes,
	// reading the file's pages in place through windows mapped from it.
	LanesMapped Path = iota
	// LanesRead hashes in the lanes, copying the file into each lane's
	// buffer with pread.
	LanesRead
	// SHA1Read hashes one piece per goroutine with crypto/sha1 (which
	// uses the CPU's SHA instructions where it has them), reading with
	// pread.
	SHA1Read
	numPaths
)

var pathNames = [numPaths]string{"lanes-mmap", "lanes-pread", "sha1-pread"}

func (p Path) String() string {
	if p >= 0 && p < numPaths {
		return pathNames[p]
	}
	return fmt.Sprintf("Path(%d)", int(p))
}

// lanes reports whether p hashes in the lane engine.
func (p Path) lanes() bool { return p == LanesMapped || p == LanesRead }

// ParsePath returns the Path named s: "lanes-mmap", "lanes-pread" or
// "sha1-pread".
func ParsePath(s string) (Path, error) {
	if i := slices.Index(pathNames[:], s); i >= 0 {
		return Path(i), nil
	}
	return 0, fmt.Errorf("unknown hashing path %q (want %s)", s, strings.Join(pathNames[:], ", "))
}

// ErrPathUnavailable reports a path that cannot run on this machine: the
// lanes without AVX-512, or mapped files where the OS cannot map them.
var ErrPathUnavailable = errors.New("hashing path not available on this machine")

// Available reports whether p can run on this machine.
func (p Path) Available() bool {
	switch p {
	case LanesMapped:
		return sha1x16.Available && canMmap
	case LanesRead:
		return sha1x16.Available
	case SHA1Read:
		return true
	}
	return false
}

// Choice is the path HashAt uses, and why.
type Choice struct {
	Path Path
	// Rate holds the bytes per second each path reached in the
	// calibration, on all cores; 0 for a path not measured (not
	// available, or a forced choice).
	Rate [numPaths]float64
	// Forced is set when the path was set by SetPath rather than
	// measured.
	Forced bool
	// Bytes is the size of the calibration file, Procs the cores it ran
	// on and Took the calibration's duration.
	Bytes int64
	Procs int
	Took  time.Duration
}

// String says which path was chosen and why, in one line.
func (c Choice) String() string {
	if c.Forced {
		return fmt.Sprintf("%s (set by configuration)", c.Path)
	}
	var rates []string
	for p := range numPaths {
		if c.Rate[p] > 0 {
			rates = append(rates, fmt.Sprintf("%s %.2f GB/s", p, c.Rate[p]/1e9))
		} else {
			rates = append(rates, fmt.Sprintf("%s unavailable", p))
		}
	}
	return fmt.Sprintf("%s, the fastest measured: %s (%d MiB in memory on %d cores, %v)",
		c.Path, strings.Join(rates, ", "), c.Bytes>>20, c.Procs, c.Took.Round(time.Millisecond))
}

var (
	chosen    atomic.Pointer[Choice]
	calibrate sync.Once
)

// Chosen returns the path HashAt uses. The first call (of Chosen or of
// HashAt) calibrates, unless SetPath came first: it hashes a file of a
// few MiB held in memory along each available path, on every core, and
// takes the fastest. The result is kept for the process. Which path is
// fastest depends on the machine (the cost of a page fault, the
// lanes' speed against the CPU's SHA instructions), not on its CPU flags
// alone, so it is measured where the process runs.
func Chosen() Choice {
	calibrate.Do(func() {
		if chosen.Load() == nil {
			c := Calibrate()
			chosen.Store(&c)
		}
	})
	return *chosen.Load()
}

// SetPath makes HashAt use p instead of the measured choice. It fails
// when p cannot run here. Call it before hashing starts.
func SetPath(p Path) error {
	if !p.Available() {
		return fmt.Errorf("%s: %w", p, ErrPathUnavailable)
	}
	calibrate.Do(func() {})
	chosen.Store(&Choice{Path: p, Forced: true, Procs: runtime.GOMAXPROCS(0)})
	return nil
}

// calibrationPieceLength is the piece length calibration hashes with:
// that of small packages, the most common.
const calibrationPieceLength = 256 << 10

// Calibrate measures every available path and returns the fastest,
// without changing the one HashAt uses. The file is big enough to give
// every lane of every core a piece (4 MiB a core, 8 MiB at least, 64 MiB
// at most), and each path hashes it three times, interleaved with the
// others, keeping its best rate.
func Calibrate() Choice {
	procs := runtime.GOMAXPROCS(0)
	size := min(64<<20, max(8<<20, int64(sha1x16.Lanes*calibrationPieceLength*procs)))
	c := Choice{Path: SHA1Read, Bytes: size, Procs: procs}
	start := time.Now()
	f, err := memFile(size)
	if err != nil {
		// No file to measure with: the one path that needs nothing.
		c.Took = time.Since(start)
		return c
	}
	defer f.Close()
	r := calibrationReader(f)
	for range 3 {
		for p := range numPaths {
			if !p.Available() {
				continue
			}
			var ra io.ReaderAt = r
			if p == LanesMapped {
				ra = f
			}
			t := time.Now()
			if _, err := hashAtPath(ra, size, calibrationPieceLength, procs, p); err != nil {
				continue
			}
			c.Rate[p] = max(c.Rate[p], float64(size)/time.Since(t).Seconds())
		}
	}
	for p := range numPaths {
		if c.Rate[p] > c.Rate[c.Path] {
			c.Path = p
		}
	}
	c.Took = time.Since(start)
	return c
}

// calibrationReader is what the paths that read (rather than map) the
// calibration file read it through; tests slow it down.
var calibrationReader = func(f *os.File) io.ReaderAt { return f }

// memFile returns a file of size bytes of varied content, held in memory
// where the OS allows it (memfd), else an unlinked temporary file, whose
// pages are in the page cache as it was just written.
func memFile(size int64) (*os.File, error) {
	f, err := memfd()
	if err != nil {
		f, err = os.CreateTemp("", "pkgtorrent-calibrate-")
		if err != nil {
			return nil, err
		}
		os.Remove(f.Name())
	}
	buf := make([]byte, 1<<20)
	h := sha1.Sum([]byte("calibration"))
	for i := range buf {
		buf[i] = h[i%len(h)] ^ byte(i>>8)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf[:min(int64(len(buf)), size-off)], off); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}
