package infocache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bound keeps the info cache folder within a size, as entries are
// written: not only by the daily gc, which keeps every entry used in its
// window, so that a client posting new combinations of packages (or new
// glob texts) as fast as it can cannot fill the disk. Once the entries
// written since the last look may have taken the folder past Limit, it
// lists the folder, and when the entries take more than Limit it removes
// the least recently used ones (with their lock files) until they take at
// most seven eighths of it: the next look is then an eighth of Limit of
// writes away.
//
// Recency is the latest of an entry's mtime (its last check), its atime
// (its last use mark, see MarkUsed) and, for entries this process served,
// when it served them (Served), which marks written at most once a day
// would not tell. Bytes are those the file system allocates (st_blocks),
// so that many small entries count for what they take.
//
// Several processes share the folder; each keeps its own count of what it
// wrote, and the listing sees what all wrote, so the folder passes Limit
// by at most an eighth of it per process. Removing an entry is safe at any
// time: a reader has the whole file or none (the entry is rebuilt), and
// removing a lock file costs at most work done twice (see the service's
// notes on locks).
type Bound struct {
	// Dir is the info cache folder; Limit its size bound in bytes.
	Dir   string
	Limit int64

	mu sync.Mutex
	// written is the bytes on disk at the last look plus those written
	// since; -1 before the first look.
	written int64
	looked  bool
	served  map[string]int64 // key -> Unix ns of the last serve
	busy    sync.Mutex       // one look at a time per process
	evicted int64
}

// Evicted returns the number of entries removed for room so far.
func (b *Bound) Evicted() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.evicted
}

// maxServed bounds the keys Served remembers.
const maxServed = 1 << 16

// Served records that a torrent was served from entry key at now.
func (b *Bound) Served(key string, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.served == nil || len(b.served) >= maxServed {
		b.served = make(map[string]int64)
	}
	b.served[key] = now.UnixNano()
	b.mu.Unlock()
}

// Wrote records that entry key was just written, and enforces the
// bound when the folder may be past it. It returns how many entries it
// removed.
func (b *Bound) Wrote(key string) (int, error) {
	if b == nil || b.Limit <= 0 {
		return 0, nil
	}
	fi, err := os.Stat(filepath.Join(b.Dir, key))
	if err != nil {
		return 0, nil // removed meanwhile: nothing to count
	}
	b.mu.Lock()
	b.written += onDisk(fi)
	due := !b.looked || b.written > b.Limit
	b.mu.Unlock()
	if !due || !b.busy.TryLock() {
		return 0, nil
	}
	defer b.busy.Unlock()
	return b.enforce(key)
}

// onDisk returns the bytes the file system allocates for fi.
func onDisk(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// entryFile is one entry of the folder, as a look sees it.
type entryFile struct {
	name   string
	size   int64
	recent int64 // Unix ns
}

// enforce lists the folder and removes the least recently used entries
// while they take more than the limit, except keep (the entry just
// written).
func (b *Bound) enforce(keep string) (int, error) {
	ents, err := os.ReadDir(b.Dir)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	served := make(map[string]int64, len(b.served))
	for k, v := range b.served {
		served[k] = v
	}
	b.mu.Unlock()
	var files []entryFile
	var total int64
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		size := onDisk(fi)
		total += size
		name := de.Name()
		if !isKey(name) || name == keep {
			continue // lock files, temporary files, the new entry
		}
		recent := fi.ModTime().UnixNano()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			recent = max(recent, st.Atim.Sec*1e9+st.Atim.Nsec)
		}
		recent = max(recent, served[name])
		files = append(files, entryFile{name, size, recent})
	}
	removed := 0
	if total > b.Limit {
		slices.SortFunc(files, func(x, y entryFile) int {
			switch {
			case x.recent < y.recent:
				return -1
			case x.recent > y.recent:
				return 1
			}
			return strings.Compare(x.name, y.name)
		})
		low := b.Limit / 8 * 7
		for _, f := range files {
			if total <= low {
				break
			}
			err := os.Remove(filepath.Join(b.Dir, f.name))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				continue
			}
			// A lock file left behind is harmless: gc removes the lock
			// of an entry that is gone.
			os.Remove(filepath.Join(b.Dir, f.name+".lock"))
			total -= f.size
			removed++
		}
	}
	b.mu.Lock()
	b.written, b.looked = total, true
	b.evicted += int64(removed)
	b.mu.Unlock()
	return removed, nil
}

// isKey reports whether name is an entry's name: 40 lower-case hex digits.
func isKey(name string) bool {
	if len(name) != 40 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
