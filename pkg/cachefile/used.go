package cachefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// MarkInterval is how often at most MarkUsed records a use of one entry.
const MarkInterval = 24 * time.Hour

// LastUsed returns the access time that fi records.
func LastUsed(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Atim.Unix())
	}
	return fi.ModTime()
}

// MarkUsed records that the cache file name was used at now by setting
// its access time, keeping its modification time, unless its last
// recorded use is less than MarkInterval before now. It reports whether it
// wrote the mark. A missing file is an error that wraps fs.ErrNotExist.
func MarkUsed(name string, now time.Time) (bool, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return false, fmt.Errorf("cache mark: %w", err)
	}
	if now.Sub(LastUsed(fi)) < MarkInterval {
		return false, nil
	}
	if err := os.Chtimes(name, now, time.Time{}); err != nil {
		return false, fmt.Errorf("cache mark: %w", err)
	}
	return true, nil
}

// ReadUsed reads the cache file name, of at most max bytes, and returns
// its last recorded use (its access time, see LastUsed) as of the open.
// It is os.ReadFile with the file's stat, in four system calls: open,
// fstat, read and close on the bare descriptor (an *os.File would also
// try to register it with the poller). The service reads a piece cache
// entry per file of a new combination, and marks it used from what this
// returns, instead of a stat of its own.
func ReadUsed(name string, max int64) ([]byte, time.Time, error) {
	fd, err := openRetry(name)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cache read: %w", &fs.PathError{Op: "open", Path: name, Err: err})
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, time.Time{}, fmt.Errorf("cache read: %w", &fs.PathError{Op: "stat", Path: name, Err: err})
	}
	used := time.Unix(st.Atim.Unix())
	if st.Size > max {
		return nil, used, fmt.Errorf("cache read %s: %w: %d bytes, more than %d", name, ErrTooLarge, st.Size, max)
	}
	// One byte more than the size, to see the end without another read
	// in the usual case: a read of a regular file that stops short of
	// the room it was given, at the size fstat saw, has reached the end.
	// A file that grew meanwhile is read to max.
	b := make([]byte, 0, st.Size+1)
	for {
		if int64(len(b)) > max {
			return nil, used, fmt.Errorf("cache read %s: %w: more than %d bytes", name, ErrTooLarge, max)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, used, fmt.Errorf("cache read: %w", &fs.PathError{Op: "read", Path: name, Err: err})
		}
		if n == 0 {
			return b, used, nil
		}
		b = b[:len(b)+n]
		if int64(len(b)) == st.Size && len(b) < cap(b) {
			return b, used, nil
		}
	}
}

func openRetry(name string) (int, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// ErrTooLarge reports a cache file larger than its reader accepts.
var ErrTooLarge = errors.New("cache file too large")

// ReadQuietly reads the cache file name, of at most max bytes, without
// counting as a use: it opens it with O_NOATIME, which the kernel allows
// to the file's owner and to root. Anyone else reads it plainly, which on
// a relatime or strictatime mount may move its access time. It returns
// the file's FileInfo from before the read.
func ReadQuietly(name string, max int64) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOATIME, 0)
	if errors.Is(err, fs.ErrPermission) {
		f, err = os.Open(name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cache read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("cache read: %w", err)
	}
	if fi.Size() > max {
		return nil, fi, fmt.Errorf("cache read %s: %w: %d bytes, more than %d", name, ErrTooLarge, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, fi, fmt.Errorf("cache read %s: %w", name, err)
	}
	return b, fi, nil
}
