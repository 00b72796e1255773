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

// Last use of a cache entry.
//
// An entry file's access time records when the entry was last used to
// serve a torrent; pkgtorrent-service gc removes entries unused for its
// -max-age. The modification time is left alone: for an info cache entry
// it means "files last checked" (see package infocache).
//
// The kernel's own atime updates cannot be relied on (noatime mounts never
// update it; relatime only once a day, and only on reads), so users set it
// explicitly with MarkUsed, at most once a MarkInterval per entry: one
// stat, and one utimensat a day. Reads by the kernel under relatime or
// strictatime can only make an entry look more recently used, never less.
// Readers that must not count as a use (gc) read with ReadQuietly.

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
