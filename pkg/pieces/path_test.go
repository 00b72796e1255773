package pieces

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// slowReaderAt delays every read, as a machine where copying from the
// page cache is slow would.
type slowReaderAt struct {
	r     io.ReaderAt
	delay time.Duration
}

func (s slowReaderAt) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.r.ReadAt(p, off)
}

// TestCalibrateMeasures makes one way of reading slow for real (each
// mapped window, or each pread, sleeps) and checks that the calibration
// notices and picks another path: the choice comes from the measured
// rates, not from the CPU's flags.
func TestCalibrateMeasures(t *testing.T) {
	if !LanesMapped.Available() {
		if os.Getenv("PKGTORRENT_TEST_NO_AVX512") == "1" {
			t.Skip("this CPU has no AVX-512 (PKGTORRENT_TEST_NO_AVX512=1): only one path runs here")
		}
		t.Fatal("this CPU has no AVX-512: the lane paths cannot be compared here (PKGTORRENT_TEST_NO_AVX512=1 skips)")
	}
	forcePath(t, LanesMapped, laneMinimum) // restores the choice afterwards
	t.Run("slow-mmap", func(t *testing.T) {
		old := mapWindow
		mapWindow = func(f *os.File, off, n int64) ([]byte, error) {
			time.Sleep(2 * time.Millisecond)
			return old(f, off, n)
		}
		t.Cleanup(func() { mapWindow = old })
		c := Calibrate()
		if c.Path == LanesMapped || c.Rate[LanesMapped] >= c.Rate[c.Path] {
			t.Errorf("mapping made slow, calibration chose %v", c)
		}
	})
	t.Run("slow-pread", func(t *testing.T) {
		old := calibrationReader
		calibrationReader = func(f *os.File) io.ReaderAt { return slowReaderAt{f, 2 * time.Millisecond} }
		t.Cleanup(func() { calibrationReader = old })
		c := Calibrate()
		if c.Path != LanesMapped {
			t.Errorf("reading made slow, calibration chose %v, want %v", c, LanesMapped)
		}
		for p := range numPaths {
			if c.Rate[p] <= 0 {
				t.Errorf("%v not measured: %v", p, c)
			}
		}
	})
}

// TestChosenIsKept checks that the choice holds for the process once made
// and that a forced path replaces it, and only with a path that can run.
func TestChosenIsKept(t *testing.T) {
	a := Chosen()
	if b := Chosen(); a != b {
		t.Errorf("Chosen changed between calls: %v, then %v", a, b)
	}
	if !a.Forced && a.Rate[a.Path] <= 0 {
		t.Errorf("the chosen path %v has no measured rate: %v", a.Path, a)
	}
	forcePath(t, SHA1Read, laneMinimum)
	if c := Chosen(); c.Path != SHA1Read || !c.Forced {
		t.Errorf("after SetPath(%v), Chosen = %v", SHA1Read, c)
	}
	for p := range numPaths {
		if !p.Available() {
			if err := SetPath(p); !errors.Is(err, ErrPathUnavailable) {
				t.Errorf("SetPath(%v) on a machine without it: %v, want ErrPathUnavailable", p, err)
			}
		}
		q, err := ParsePath(p.String())
		if err != nil || q != p {
			t.Errorf("ParsePath(%q) = %v, %v", p.String(), q, err)
		}
	}
	if _, err := ParsePath("lanes"); err == nil {
		t.Error(`ParsePath("lanes") succeeded`)
	}
}
