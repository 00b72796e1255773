package piececache

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// ErrStale reports a well-formed cache entry made from another version of
// the source file (or with another piece length).
var ErrStale = errors.New("piece cache entry is stale")

// Store is the piece cache folder: the entry of source file rel (a clean
// slash-separated path relative to the document root) hashed with piece
// length n lives at Dir/rel/n.
type Store struct {
	Dir string
}

// Path returns the cache file name of rel for piece length n.
func (s Store) Path(rel string, n int64) string {
	return filepath.Join(s.Dir, filepath.FromSlash(rel), strconv.FormatInt(n, 10))
}

// LockFile returns the file whose bytes lock the entries of each source
// file (Lock): Dir.lock, beside the folder, so that no source file's
// entries can take its name.
func (s Store) LockFile() string { return filepath.Clean(s.Dir) + ".lock" }

// Lock takes the lock that guards the entries of rel around "check,
// hash, write": one byte of LockFile, chosen by a hash of rel
// (filelock.AcquireRange), waiting for another holder until ctx ends
// (filelock.ErrTimeout). It costs no inode of its own and creates no
// folder, so a file is hashed before anything of its entry exists on
// disk. Two files whose hashes collide share a lock: one waits for the
// other, nothing else.
func (s Store) Lock(ctx context.Context, rel string, onWait func()) (*filelock.Lock, error) {
	return filelock.AcquireRange(ctx, s.LockFile(), lockByte(rel), onWait)
}

// Locks opens LockFile for many locks on one descriptor (LockIn): a
// request that hashes many files holds one descriptor, not one a file.
func (s Store) Locks() (*filelock.Ranges, error) {
	return filelock.OpenRanges(s.LockFile())
}

// LockIn is Lock through r, opened by Locks. Locks of one r do not
// exclude each other (see filelock.Ranges).
func LockIn(ctx context.Context, r *filelock.Ranges, rel string, onWait func()) (*filelock.Lock, error) {
	return r.Acquire(ctx, lockByte(rel), onWait)
}

// lockByte is rel's byte of the lock file: its FNV-1a hash, in [0, 2^62).
func lockByte(rel string) int64 {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return int64(h.Sum64() >> 2)
}

// RemoveTemps removes what interrupted writes of the entry of rel for
// piece length n left behind. Call it only while holding the entry's lock.
func (s Store) RemoveTemps(rel string, n int64) (int, error) {
	return cachefile.RemoveTemps(s.Path(rel, n))
}

// Load returns the cached digests of rel when the entry exists, decodes
// cleanly and was made from the file version st with piece length n, and,
// when v2 is true, holds the v2 piece layer too. Otherwise it returns an
// error: fs.ErrNotExist, ErrCorrupt or ErrStale (wrapped), or the I/O
// error that stopped it.
func (s Store) Load(rel string, st Stamp, n int64, v2 bool) (*pieces.Digests, error) {
	d, _, err := s.LoadUsed(rel, st, n, v2)
	return d, err
}

// LoadUsed is Load, and also returns the entry's last recorded use (see
// cachefile.LastUsed), read with it.
func (s Store) LoadUsed(rel string, st Stamp, n int64, v2 bool) (*pieces.Digests, time.Time, error) {
	b, used, err := cachefile.ReadUsed(s.Path(rel, n), maxEntry(st.Size, n))
	if err != nil {
		return nil, used, fmt.Errorf("piece cache: %w", err)
	}
	got, d, err := Decode(b)
	if err != nil {
		return nil, used, fmt.Errorf("piece cache %s: %w", rel, err)
	}
	if got != st || d.PieceLength != n {
		return nil, used, fmt.Errorf("piece cache %s: %w", rel, ErrStale)
	}
	if v2 && !d.V2 {
		return nil, used, fmt.Errorf("piece cache %s: %w: no v2 piece layer", rel, ErrStale)
	}
	return d, used, nil
}

// maxEntry bounds the size of the entry of a file of size bytes hashed
// with piece length n (with a v2 layer): a larger file is not its entry,
// and is not read in full. Sizes and lengths come from a stat and from
// the settings, so a negative or odd one only makes the bound large.
func maxEntry(size, n int64) int64 {
	if size < 0 || n <= 0 {
		return 1 << 30
	}
	count := size/n + 1
	return headerSize + count*(pieces.HashSize+pieces.V2Size) + pieces.V2Size + 4
}

// Save writes the entry of rel atomically: to a temporary file in the
// same folder, then renamed over the old one, so that a reader sees either
// the old entry or the new one, never a part of one.
func (s Store) Save(rel string, st Stamp, d *pieces.Digests) error {
	return cachefile.WriteAtomic(s.Path(rel, d.PieceLength), Encode(st, d))
}

// MarkUsed records that the entry of rel for piece length n was used at
// now, at most once a cachefile.MarkInterval (see package cachefile). It
// reports whether it wrote the mark.
func (s Store) MarkUsed(rel string, n int64, now time.Time) (bool, error) {
	return cachefile.MarkUsed(s.Path(rel, n), now)
}

// IsMiss reports whether err only means that the entry must be rebuilt
// (absent, corrupt or stale) rather than that the cache is unusable.
func IsMiss(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrStale)
}
