// Package filelock takes exclusive locks on files with flock(2), or on
// one byte of a file with an open file description lock (fcntl(2)), so
// that processes that share a cache folder do a piece of work once
// between them. The kernel releases a lock when its holder closes the file or
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
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
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
//
// It holds the raw descriptor rather than an *os.File: os.OpenFile tries
// to register every file it opens with the runtime's poller, which a
// regular file or folder refuses, at five system calls a file (fcntl
// twice to set O_NONBLOCK and twice to clear it, and the refused
// epoll_ctl). A digest of 2000 packages takes 2000 locks.
type Lock struct {
	fd int
	// off is the byte an OFD lock holds (AcquireRange); -1 for flock.
	off int64
	// shared is set for a lock taken through Ranges, whose descriptor
	// Release leaves open.
	shared bool
}

// Acquire locks the file name exclusively, creating it and its folder
// when needed. It tries at once, then polls with a short backoff until the
// lock is free or ctx ends (ErrTimeout, wrapping the context's error). An
// ended ctx still gets the first try. onWait, when not nil, is called once
// when the first try finds the lock held. Any other error means that the
// lock file cannot be used at all (a read-only or missing cache folder,
// say).
func Acquire(ctx context.Context, name string, onWait func()) (*Lock, error) {
	fd, err := openFile(name)
	if err != nil {
		return nil, err
	}
	return wait(ctx, &Lock{fd: fd, off: -1}, name, onWait)
}

// AcquireDir is Acquire on the folder dir, created when missing, instead
// of a lock file: a lock that costs no inode of its own, for work whose
// result lives in that folder. Whoever removes the folder meanwhile costs
// work done twice, as for a lock file.
func AcquireDir(ctx context.Context, dir string, onWait func()) (*Lock, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	fd, err := open(dir, flags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		fd, err = open(dir, flags, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return wait(ctx, &Lock{fd: fd, off: -1}, dir, onWait)
}

// AcquireRange is Acquire on byte off of the file name (0 <= off <
// 1<<62): an open file description (OFD) lock of that one byte, so that
// one lock file serves any number of independent locks, each costing no
// inode of its own. OFD locks belong to the open file, not the process:
// two AcquireRange calls of one process exclude each other like those of
// two processes, and the kernel releases them when the holder dies.
// Callers that map many keys onto offsets by a hash share a lock only
// when their hashes collide: work done one after the other, never wrong.
func AcquireRange(ctx context.Context, name string, off int64, onWait func()) (*Lock, error) {
	if off < 0 || off >= 1<<62 {
		return nil, fmt.Errorf("lock %s: offset %d out of range", name, off)
	}
	fd, err := openFile(name)
	if err != nil {
		return nil, err
	}
	return wait(ctx, &Lock{fd: fd, off: off}, name, onWait)
}

// Ranges is a lock file open once, whose bytes are locked one at a time
// (Acquire): any number of locks on one descriptor. The locks of one
// Ranges belong to the same open file, so they do not exclude each other:
// its user must not lock a byte twice at once (a caller that locks each
// key once, under its own single flight, does not). Locks of different
// Ranges, in this process or another, exclude each other as AcquireRange's
// do.
type Ranges struct {
	fd   int
	name string
}

// OpenRanges opens (creating it and its folder when needed) the lock file
// name for Acquire. Close it once its locks are released.
func OpenRanges(name string) (*Ranges, error) {
	fd, err := openFile(name)
	if err != nil {
		return nil, err
	}
	return &Ranges{fd: fd, name: name}, nil
}

// Acquire is AcquireRange on r's file: byte off, waited for until ctx
// ends. Its Release unlocks the byte and leaves r open.
func (r *Ranges) Acquire(ctx context.Context, off int64, onWait func()) (*Lock, error) {
	if off < 0 || off >= 1<<62 {
		return nil, fmt.Errorf("lock %s: offset %d out of range", r.name, off)
	}
	return wait(ctx, &Lock{fd: r.fd, off: off, shared: true}, r.name, onWait)
}

// Close closes the lock file, releasing any lock still held through it.
func (r *Ranges) Close() error {
	if err := unix.Close(r.fd); err != nil {
		return fmt.Errorf("lock %s: %w", r.name, err)
	}
	return nil
}

// openFile opens the lock file name for writing, creating it and its
// folder when needed. The folder usually exists: it is created only when
// the open finds it missing, which spares a stat per lock.
func openFile(name string) (int, error) {
	const flags = unix.O_RDWR | unix.O_CREAT | unix.O_CLOEXEC
	fd, err := open(name, flags, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return -1, fmt.Errorf("lock: %w", err)
		}
		fd, err = open(name, flags, 0o644)
	}
	if err != nil {
		return -1, fmt.Errorf("lock: %w", err)
	}
	return fd, nil
}

// open is open(2), retried when a signal interrupts it, with its error
// as an *fs.PathError.
func open(name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Open(name, flags, mode)
		if err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.EINTR) {
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// wait takes l, named name, as Acquire says, closing its descriptor when
// it fails.
func wait(ctx context.Context, l *Lock, name string, onWait func()) (*Lock, error) {
	backoff := minBackoff
	var timer *time.Timer
	for {
		err := l.lock(true)
		if err == nil {
			if timer != nil {
				timer.Stop()
			}
			return l, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
			l.closeOwn()
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
			l.closeOwn()
			return nil, fmt.Errorf("%w %s: %w", ErrTimeout, name, ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// lock takes (take) or drops the lock without waiting, retrying when a
// signal interrupts the call. A lock held elsewhere is EWOULDBLOCK
// (flock) or EAGAIN/EACCES (fcntl).
func (l *Lock) lock(take bool) error {
	for {
		var err error
		if l.off < 0 {
			how := unix.LOCK_UN
			if take {
				how = unix.LOCK_EX | unix.LOCK_NB
			}
			err = unix.Flock(l.fd, how)
		} else {
			lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: l.off, Len: 1}
			if take {
				lk.Type = unix.F_WRLCK
			}
			err = unix.FcntlFlock(uintptr(l.fd), unix.F_OFD_SETLK, &lk)
		}
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// closeOwn closes l's descriptor unless it is a Ranges'.
func (l *Lock) closeOwn() error {
	if l.shared {
		return nil
	}
	return unix.Close(l.fd)
}

// Release unlocks and closes the lock file (not a Ranges': it stays
// open).
func (l *Lock) Release() error {
	// Closing the only descriptor of the open file releases the lock; the
	// explicit unlock makes that independent of descriptors a fork or
	// exec might have copied.
	err := l.lock(false)
	if cerr := l.closeOwn(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}
