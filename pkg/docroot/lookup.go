package docroot

import (
	"io/fs"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
)

// Lookup stats and opens many files of a root, as one request does: the files of a
// package transaction are a few thousand names in a few folders. Through
// os.Root, every Stat opens and closes each folder on the way (four
// system calls per level); Lookup opens each folder once, through the
// root, and stats (opens) regular files in it with one fstatat (openat).
// Anything else (a symlink, a missing name, a folder that cannot be
// opened that way) is looked up by Root.Stat (Root.OpenFile), so the
// answers are Root's.
//
// The folders it holds open are bounded: at most MaxOpenDirs per Lookup
// and MaxOpenDirsInAll across the process, whatever the request (a glob
// over ten thousand folders, say). Past either bound it closes the folder
// it used least recently that no call is using, or, when every one is in
// use, looks the file up by Root.Stat and Root.OpenFile, which open the
// folders on the way and close them at once. Files are looked up in the
// request's order, sorted by path, so the folders still open are nearly
// always the ones needed.
//
// The folders stay open until Close: use one Lookup per request, not
// longer, so that a folder moved away while the service runs is not used
// at its new place.
type Lookup struct {
	r    *Root
	mu   sync.Mutex
	dirs map[string]*openDir // nil: the folder is looked up by Root.Stat
	open int                 // folders held open
	tick uint64              // use counter, for least recently used
}

// openDir is a folder a Lookup holds open.
type openDir struct {
	root *os.Root
	refs int    // calls using it
	used uint64 // Lookup.tick at its last use
}

// MaxOpenDirs bounds the folders one Lookup holds open, and
// MaxOpenDirsInAll those all Lookups of the process hold, unless
// LimitOpenDirs lowered it.
const (
	MaxOpenDirs      = 64
	MaxOpenDirsInAll = 1024
)

// dirsInAll counts the folders all Lookups hold open, and maxDirsInAll
// bounds it.
var dirsInAll, maxDirsInAll atomic.Int64

func init() { maxDirsInAll.Store(MaxOpenDirsInAll) }

// LimitOpenDirs lowers the bound on the folders all Lookups hold open to
// n (at least MaxOpenDirs), for a process that may open few descriptors.
func LimitOpenDirs(n int) {
	maxDirsInAll.Store(int64(max(MaxOpenDirs, min(n, MaxOpenDirsInAll))))
}

// Lookup returns a Lookup over r. It is safe for concurrent use.
func (r *Root) Lookup() *Lookup { return &Lookup{r: r, dirs: make(map[string]*openDir)} }

// Root returns the root l looks up in.
func (l *Lookup) Root() *Root { return l.r }

// Stat is Root.Stat.
func (l *Lookup) Stat(rel string) (fs.FileInfo, error) {
	dir, base := path.Split(rel)
	if d, done := l.dir(dir); d != nil && base != "" {
		fi, err := d.Lstat(base)
		done()
		if err == nil && fi.Mode().IsRegular() {
			return fi, nil
		}
	} else {
		done()
	}
	return l.r.Stat(rel)
}

// dir returns folder dir ("" or ending in a slash) opened through the
// root, or nil, and the function to call when done with it.
func (l *Lookup) dir(dir string) (*os.Root, func()) {
	if dir == "" {
		return l.r.root, func() {}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tick++
	d, ok := l.dirs[dir]
	if ok && d == nil {
		return nil, func() {}
	}
	if !ok {
		if !l.room() {
			return nil, func() {}
		}
		r, err := l.r.root.OpenRoot(dir[:len(dir)-1])
		if err != nil {
			dirsInAll.Add(-1)
			l.dirs[dir] = nil
			return nil, func() {}
		}
		l.open++
		d = &openDir{root: r}
		l.dirs[dir] = d
	}
	d.refs++
	d.used = l.tick
	return d.root, func() {
		l.mu.Lock()
		d.refs--
		l.mu.Unlock()
	}
}

// room takes a place for one more open folder, within both bounds,
// closing the least recently used idle folder of l when needed. It
// reports false when there is none. Call it with l.mu held.
func (l *Lookup) room() bool {
	for {
		if l.open < MaxOpenDirs {
			if dirsInAll.Add(1) <= maxDirsInAll.Load() {
				return true
			}
			dirsInAll.Add(-1)
		}
		var lru string
		var victim *openDir
		for k, d := range l.dirs {
			if d != nil && d.refs == 0 && (victim == nil || d.used < victim.used) {
				lru, victim = k, d
			}
		}
		if victim == nil {
			return false
		}
		victim.root.Close()
		delete(l.dirs, lru)
		l.open--
		dirsInAll.Add(-1)
	}
}

// OpenFile is Root.OpenFile.
func (l *Lookup) OpenFile(rel string) (*os.File, fs.FileInfo, error) {
	dir, base := path.Split(rel)
	d, done := l.dir(dir)
	if d != nil && base != "" {
		// As Root.OpenFile: only a regular file is opened, without
		// blocking, and checked again once open. A symlink swapped in
		// between is confined to the folder by its os.Root.
		if fi, err := d.Lstat(base); err == nil && fi.Mode().IsRegular() {
			if f, err := d.OpenFile(base, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					done()
					return f, fi, nil
				}
				f.Close()
			}
		}
	}
	done()
	return l.r.OpenFile(rel)
}

// Close closes the folders l opened.
func (l *Lookup) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, d := range l.dirs {
		if d != nil {
			d.root.Close()
			l.open--
			dirsInAll.Add(-1)
		}
		delete(l.dirs, k)
	}
	return nil
}
