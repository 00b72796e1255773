package docroot

import (
	"io/fs"
	"os"
	"path"
	"sync"
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
// The folders stay open until Close: use one Lookup per request, not
// longer, so that a folder moved away while the service runs is not used
// at its new place.
type Lookup struct {
	r    *Root
	mu   sync.Mutex
	dirs map[string]*os.Root // nil: the folder is looked up by Root.Stat
}

// Lookup returns a Lookup over r. It is safe for concurrent use.
func (r *Root) Lookup() *Lookup { return &Lookup{r: r, dirs: make(map[string]*os.Root)} }

// Root returns the root l looks up in.
func (l *Lookup) Root() *Root { return l.r }

// Stat is Root.Stat.
func (l *Lookup) Stat(rel string) (fs.FileInfo, error) {
	dir, base := path.Split(rel)
	if d := l.dir(dir); d != nil && base != "" {
		if fi, err := d.Lstat(base); err == nil && fi.Mode().IsRegular() {
			return fi, nil
		}
	}
	return l.r.Stat(rel)
}

// dir returns folder dir ("" or ending in a slash) opened through the
// root, or nil.
func (l *Lookup) dir(dir string) *os.Root {
	if dir == "" {
		return l.r.root
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.dirs[dir]
	if !ok {
		var err error
		if d, err = l.r.root.OpenRoot(dir[:len(dir)-1]); err != nil {
			d = nil
		}
		l.dirs[dir] = d
	}
	return d
}

// OpenFile is Root.OpenFile.
func (l *Lookup) OpenFile(rel string) (*os.File, fs.FileInfo, error) {
	dir, base := path.Split(rel)
	if d := l.dir(dir); d != nil && base != "" {
		// As Root.OpenFile: only a regular file is opened, without
		// blocking, and checked again once open. A symlink swapped in
		// between is confined to the folder by its os.Root.
		if fi, err := d.Lstat(base); err == nil && fi.Mode().IsRegular() {
			if f, err := d.OpenFile(base, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					return f, fi, nil
				}
				f.Close()
			}
		}
	}
	return l.r.OpenFile(rel)
}

// Close closes the folders l opened.
func (l *Lookup) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, d := range l.dirs {
		if d != nil {
			d.Close()
		}
		delete(l.dirs, k)
	}
	return nil
}
