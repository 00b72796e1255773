package filelock

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holderEnv makes the test binary a helper process that takes the lock
// named by the variable, says "locked" and waits to be killed.
const holderEnv = "FILELOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if name := os.Getenv(holderEnv); name != "" {
		l, err := Acquire(context.Background(), name, nil)
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
// SIGKILL: the kernel must release it, and a waiter must get it.
func TestReleasedWhenHolderDies(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+name)
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
	_, err = Acquire(ctx, name, nil)
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Acquire while another process holds it: %v, want ErrTimeout", err)
	}
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l, err := Acquire(ctx, name, nil)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	cmd.Process.Kill()
	if err := <-got; err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
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
