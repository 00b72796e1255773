package filelock

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holderEnv makes the test binary a helper process that takes the lock
// named by the variable, says "locked" and waits to be killed.
const holderEnv = "FILELOCK_TEST_HOLD"

// holderByte, when set with holderEnv, makes the helper lock that byte of
// the file (AcquireRange) instead of the whole file.
const holderByte = "FILELOCK_TEST_BYTE"

func TestMain(m *testing.M) {
	if name := os.Getenv(holderEnv); name != "" {
		acquire := func() (*Lock, error) { return Acquire(context.Background(), name, nil) }
		if b := os.Getenv(holderByte); b != "" {
			off, _ := strconv.ParseInt(b, 10, 64)
			acquire = func() (*Lock, error) { return AcquireRange(context.Background(), name, off, nil) }
		}
		l, err := acquire()
		if err != nil {
			os.Stderr.WriteString("helper: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		// Hold it until killed (bounded, should the test forget us).
		time.Sleep(5 * time.Minute)
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestExclusiveWithinProcess(t *testing.T) {
	name := filepath.Join(t.TempDir(), "sub", "x.lock")
	a, err := Acquire(context.Background(), name, nil)
	if err != nil {
		t.Fatalf("first Acquire: %v (the folder should be created)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	waits := 0
	if _, err := Acquire(ctx, name, func() { waits++ }); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Acquire while held: %v, want ErrTimeout wrapping DeadlineExceeded", err)
	}
	if waits != 1 {
		t.Errorf("onWait called %d times, want once", waits)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	// An ended context still gets one try.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	b, err := Acquire(done, name, func() { t.Error("onWait called for a free lock") })
	if err != nil {
		t.Fatalf("Acquire of a free lock with an ended context: %v", err)
	}
	b.Release()
}

func TestMutualExclusion(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.lock")
	var inside, maxInside, total atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				l, err := Acquire(context.Background(), name, nil)
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				total.Add(1)
				inside.Add(-1)
				l.Release()
			}
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 || total.Load() != 160 {
		t.Errorf("at most %d holders at once over %d locks, want 1 over 160", maxInside.Load(), total.Load())
	}
}

// TestReleasedWhenHolderDies kills a process that holds the lock with
// SIGKILL: the kernel must release it, and a waiter must get it; for a
// whole file (Acquire) and for a byte (AcquireRange).
func TestReleasedWhenHolderDies(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		releasedWhenHolderDies(t, nil, func(ctx context.Context, name string) (*Lock, error) {
			return Acquire(ctx, name, nil)
		})
	})
	t.Run("byte", func(t *testing.T) {
		releasedWhenHolderDies(t, []string{holderByte + "=12345"}, func(ctx context.Context, name string) (*Lock, error) {
			return AcquireRange(ctx, name, 12345, nil)
		})
	})
}

func releasedWhenHolderDies(t *testing.T, env []string, acquire func(context.Context, string) (*Lock, error)) {
	name := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), holderEnv+"="+name), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err = acquire(ctx, name)
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("lock while another process holds it: %v, want ErrTimeout", err)
	}
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l, err := acquire(ctx, name)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	cmd.Process.Kill()
	if err := <-got; err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
}

func TestUnusableFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	// A lock under a regular file: its folder cannot exist.
	if _, err := Acquire(context.Background(), filepath.Join(file, "x.lock"), nil); err == nil || errors.Is(err, ErrTimeout) {
		t.Errorf("lock under a file: %v, want an error other than ErrTimeout", err)
	}
	// A folder where the lock file should be.
	os.Mkdir(filepath.Join(dir, "d.lock"), 0o755)
	if _, err := Acquire(context.Background(), filepath.Join(dir, "d.lock"), nil); err == nil || errors.Is(err, ErrTimeout) {
		t.Errorf("lock that is a folder: %v, want an error other than ErrTimeout", err)
	}
}

// TestAcquireDir locks a folder: created when missing, exclusive within
// the process (each Acquire opens it anew), free again once released, and
// nothing created in it.
func TestAcquireDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	a, err := AcquireDir(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("first AcquireDir: %v (the folder should be created)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := AcquireDir(ctx, dir, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second AcquireDir while held: %v, want ErrTimeout", err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	b, err := AcquireDir(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("AcquireDir once released: %v", err)
	}
	b.Release()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("the folder holds %d entries (%v), want none: the lock costs no inode", len(ents), err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := AcquireDir(context.Background(), file, nil); err == nil || errors.Is(err, ErrTimeout) {
		t.Errorf("AcquireDir of a file: %v, want an error other than ErrTimeout", err)
	}
}

// TestAcquireRange locks single bytes of one file: a byte excludes a
// second lock of it, within the process too (OFD locks belong to the open
// file), other bytes stay free, a released byte can be taken again, and a
// holder that dies releases it (TestReleasedWhenHolderDies's helper, on a
// byte).
func TestAcquireRange(t *testing.T) {
	name := filepath.Join(t.TempDir(), "sub", "pieces.lock")
	a, err := AcquireRange(context.Background(), name, 1<<40, nil)
	if err != nil {
		t.Fatalf("first AcquireRange: %v (the file and its folder should be created)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	waits := 0
	if _, err := AcquireRange(ctx, name, 1<<40, func() { waits++ }); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second AcquireRange of the byte while held: %v, want ErrTimeout", err)
	}
	if waits != 1 {
		t.Errorf("onWait called %d times, want once", waits)
	}
	for _, off := range []int64{0, 1<<40 - 1, 1<<40 + 1, 1<<62 - 1} {
		b, err := AcquireRange(ctx, name, off, func() { t.Errorf("byte %d: waited for a free byte", off) })
		if err != nil {
			t.Fatalf("byte %d while byte %d is held: %v", off, int64(1<<40), err)
		}
		b.Release()
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	c, err := AcquireRange(ctx, name, 1<<40, nil)
	if err != nil {
		t.Fatalf("AcquireRange once released: %v", err)
	}
	c.Release()
	for _, off := range []int64{-1, 1 << 62} {
		if _, err := AcquireRange(ctx, name, off, nil); err == nil {
			t.Errorf("offset %d: no error", off)
		}
	}
	if fi, err := os.Stat(name); err != nil || fi.Size() != 0 {
		t.Errorf("lock file: %v, size %v; want it there and empty", err, fi)
	}
}

// TestAcquireRangeMutualExclusion runs many goroutines over a few bytes:
// at most one holder per byte at any time.
func TestAcquireRangeMutualExclusion(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.lock")
	var inside [3]atomic.Int32
	var worst atomic.Int32
	var wg sync.WaitGroup
	for g := range 9 {
		wg.Go(func() {
			off := int64(g % 3)
			for range 20 {
				l, err := AcquireRange(context.Background(), name, off, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside[off].Add(1); n > worst.Load() {
					worst.Store(n)
				}
				time.Sleep(50 * time.Microsecond)
				inside[off].Add(-1)
				l.Release()
			}
		})
	}
	wg.Wait()
	if worst.Load() != 1 {
		t.Errorf("%d holders of one byte at once, want 1", worst.Load())
	}
}

// TestRanges locks bytes through one descriptor: a byte held through one
// Ranges excludes AcquireRange and another Ranges (in this process), not
// other bytes; Release keeps the Ranges open for the next lock, and Close
// releases what it still holds.
func TestRanges(t *testing.T) {
	name := filepath.Join(t.TempDir(), "pieces.lock")
	r, err := OpenRanges(name)
	if err != nil {
		t.Fatal(err)
	}
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	a, err := r.Acquire(context.Background(), 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Acquire(context.Background(), 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireRange(short(), name, 7, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("AcquireRange of a byte held through Ranges: %v, want ErrTimeout", err)
	}
	other, err := OpenRanges(name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Acquire(short(), 8, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("another Ranges, byte held: %v, want ErrTimeout", err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	c, err := other.Acquire(short(), 7, nil)
	if err != nil {
		t.Fatalf("byte 7 once released: %v", err)
	}
	c.Release()
	// b is still held, through a descriptor Release of a left open.
	if _, err := other.Acquire(short(), 8, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("byte 8 after byte 7's release: %v, want ErrTimeout (still held)", err)
	}
	if _, err := r.Acquire(context.Background(), 9, nil); err != nil {
		t.Fatalf("a lock through r after a Release: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{8, 9} {
		d, err := other.Acquire(short(), off, nil)
		if err != nil {
			t.Fatalf("byte %d after Close: %v", off, err)
		}
		d.Release()
	}
	_ = b
}
