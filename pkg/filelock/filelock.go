// Package filelock takes exclusive locks on files with flock(2), so that
// processes that share a cache folder do a piece of work once between
// them. The kernel releases a lock when its holder closes the file or
// dies, so a crashed process never leaves a lock behind.
//
// A lock file is empty and stays where it is: removing it while another
// process holds or waits for it would let a third one lock a new file of
// the same name at the same time. Were that to happen anyway (someone
// clears the cache folder), the cost is work done twice, not wrong data:
// the caches are written atomically and checked when read.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrTimeout reports that the lock stayed held by someone else until the
// context ended.
var ErrTimeout = errors.New("timed out waiting for a lock")

// Backoff bounds between two attempts while the lock is held elsewhere.
const (
	minBackoff = time.Millisecond
	maxBackoff = 25 * time.Millisecond
)

// Lock is a held lock. Release it with Release.
type Lock struct {
	f *os.File
}

// Acquire locks the file name exclusively, creating it and its folder
// when needed. It tries at once, then polls with a short backoff until the
// lock is free or ctx ends (ErrTimeout, wrapping the context's error). An
// ended ctx still gets the first try. onWait, when not nil, is called once
// when the first try finds the lock held. Any other error means that the
// lock file cannot be used at all (a read-only or missing cache folder,
// say).
func Acquire(ctx context.Context, name string, onWait func()) (*Lock, error) {
	// The folder usually exists: create it only when the open finds it
	// missing, which spares a stat per lock.
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return wait(ctx, f, name, onWait)
}

// AcquireDir is Acquire on the folder dir, created when missing, instead
// of a lock file: a lock that costs no inode of its own, for work whose
// result lives in that folder (a piece cache entry lives in a folder of
// its own). Whoever removes the folder meanwhile costs work done twice,
// as for a lock file.
func AcquireDir(ctx context.Context, dir string, onWait func()) (*Lock, error) {
	const flags = os.O_RDONLY | syscall.O_DIRECTORY
	f, err := os.OpenFile(dir, flags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		f, err = os.OpenFile(dir, flags, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return wait(ctx, f, dir, onWait)
}

// wait locks the open file f, named name, as Acquire says, closing it
// when it fails.
func wait(ctx context.Context, f *os.File, name string, onWait func()) (*Lock, error) {
	backoff := minBackoff
	var timer *time.Timer
	for {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if timer != nil {
				timer.Stop()
			}
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if timer == nil {
			if onWait != nil {
				onWait()
			}
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			f.Close()
			return nil, fmt.Errorf("%w %s: %w", ErrTimeout, name, ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// flock calls flock(2) on f, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = sc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return ferr
}

// Release unlocks and closes the lock file.
func (l *Lock) Release() error {
	// Closing the only descriptor of the open file releases the lock; the
	// explicit unlock makes that independent of descriptors a fork or
	// exec might have copied.
	err := flock(l.f, syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}
