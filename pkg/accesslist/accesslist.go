// Package accesslist keeps the whitelist file of a closed opentracker:
// one info hash a line, in 40 hexadecimal digits. Debian builds
// opentracker whitelist-only, so a tracker beside the mirror answers only
// for the torrents on that list; the service adds the info hashes of
// every torrent it answers with, and gc removes those of the entries it
// removed. opentracker reads the file again on SIGHUP (the deployment's
// path unit sends it when the file changes).
//
// The file is shared by every process of the service (mod_fcgid starts
// several) and by gc: each change is made under a lock on the file's
// folder (not a lock file, which gc running as root would create where
// the service's user cannot open it), on the file as it is on disk then, and written atomically (a temporary
// file and a rename), so no process loses another's entries and the
// tracker never reads half a file. A process keeps the set it last read,
// so a torrent answered again costs a map look-up; it reads the file
// again when the file changed (at most once per Revalidate), so an entry
// that gc removed is added again by the next answer that needs it.
//
// The list is bounded (Max entries): past it, an info hash is not added
// and Allow says so (ErrFull), and the torrent is still answered.
package accesslist

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
)

// Hash is an info hash as trackers know it: the v1 info hash, or the
// first 20 bytes of a v2 one (BEP 52).
type Hash [20]byte

// Revalidate is the longest a process trusts the set it last read
// without checking whether the file changed.
const Revalidate = time.Minute

// lockWait bounds the wait for another process's change.
const lockWait = 10 * time.Second

// ErrFull reports that the list holds Max entries already.
var ErrFull = errors.New("the tracker's whitelist is full")

// List is one whitelist file.
type List struct {
	path string
	max  int
	now  func() time.Time

	mu      sync.Mutex
	known   map[Hash]struct{}
	stamp   stamp     // the file as last read
	checked time.Time // when the file was last compared with stamp
}

// stamp identifies a version of the file.
type stamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// New returns the list in the file path, which holds at most max
// entries. Nothing is read until the first call.
func New(path string, max int) *List {
	return &List{path: path, max: max, now: time.Now}
}

// Path is the file's name.
func (l *List) Path() string { return l.path }

// Allow makes sure the list holds every hash: a map look-up when the
// process has seen them on the list, else a locked read, merge and atomic
// write of the file. It reports whether it changed the file.
func (l *List) Allow(hashes ...Hash) (changed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.known != nil && l.now().Sub(l.checked) >= Revalidate {
		l.checked = l.now()
		if st, err := statOf(l.path); err != nil || st != l.stamp {
			l.known = nil // read again below
		}
	}
	if l.known != nil && l.holds(hashes) {
		return false, nil
	}
	err = l.update(func(set map[Hash]struct{}) (bool, error) {
		add := 0
		for _, h := range hashes {
			if _, ok := set[h]; !ok {
				add++
			}
		}
		if add == 0 {
			return false, nil
		}
		if len(set)+add > l.max {
			return false, fmt.Errorf("%w: %d entries, max %d", ErrFull, len(set), l.max)
		}
		for _, h := range hashes {
			set[h] = struct{}{}
		}
		changed = true
		return true, nil
	})
	return changed, err
}

// Prune removes the hashes for which keep returns false, and reports how
// many it removed.
func (l *List) Prune(keep func(Hash) bool) (removed int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err = l.update(func(set map[Hash]struct{}) (bool, error) {
		for h := range set {
			if !keep(h) {
				delete(set, h)
				removed++
			}
		}
		return removed > 0, nil
	})
	return removed, err
}

// Hashes returns the hashes on the list as the file holds them now,
// sorted.
func (l *List) Hashes() ([]Hash, error) {
	set, err := read(l.path)
	if err != nil {
		return nil, err
	}
	out := make([]Hash, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

func (l *List) holds(hashes []Hash) bool {
	for _, h := range hashes {
		if _, ok := l.known[h]; !ok {
			return false
		}
	}
	return true
}

// update runs change on the file's set under its lock, and writes the
// set back when change says so. l.mu is held.
func (l *List) update(change func(map[Hash]struct{}) (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	lock, err := filelock.AcquireDir(ctx, filepath.Dir(l.path), nil)
	if err != nil {
		return fmt.Errorf("whitelist %s: %w", l.path, err)
	}
	defer lock.Release()
	set, err := read(l.path)
	if err != nil {
		return err
	}
	write, err := change(set)
	if write {
		if werr := cachefile.WriteAtomic(l.path, format(set)); werr != nil {
			return fmt.Errorf("whitelist: %w", werr)
		}
	}
	// What this process knows is the file as it is now, whether or not
	// change succeeded.
	st, serr := statOf(l.path)
	if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
		return fmt.Errorf("whitelist: %w", serr)
	}
	l.known, l.stamp, l.checked = set, st, l.now()
	return err
}

// read returns the set in the file path, empty when it does not exist.
// Lines that do not start with a hash are skipped (and dropped when the
// file is written again).
func read(path string) (map[Hash]struct{}, error) {
	set := map[Hash]struct{}{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := bytes.TrimSpace(s.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var h Hash
		if len(line) < 2*len(h) {
			continue
		}
		if _, err := hex.Decode(h[:], line[:2*len(h)]); err != nil {
			continue
		}
		set[h] = struct{}{}
	}
	return set, s.Err()
}

// format writes the set one lowercase hash a line, sorted, so that the
// same set gives the same file.
func format(set map[Hash]struct{}) []byte {
	hs := make([]Hash, 0, len(set))
	for h := range set {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	out := make([]byte, 0, len(hs)*41)
	for _, h := range hs {
		out = hex.AppendEncode(out, h[:])
		out = append(out, '\n')
	}
	return out
}

func statOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}, nil
}
