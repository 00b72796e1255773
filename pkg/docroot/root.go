package docroot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gobwas/glob"
)

// Root is an open document root. Every lookup goes through an os.Root, so
// neither ".." nor a symlink can reach a file outside it; symlinks that
// stay inside are followed.
//
// Mirrors often hold absolute symlinks that point inside the mirror
// ("latest -> /srv/mirror/yum/el9.4"), which os.Root refuses outright. Such
// a path is resolved in full and, when it lands inside the root, looked up
// again through the os.Root by its resolved relative path, so that the
// final open is still confined.
type Root struct {
	dir  string
	real string // dir with every symlink resolved
	root *os.Root
}

// Open opens the document root dir.
func Open(dir string) (*Root, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("document root: %w", err)
	}
	r, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("document root: %w", err)
	}
	return &Root{dir: dir, real: real, root: r}, nil
}

// escapes reports whether err is os.Root's refusal to follow a symlink
// or ".." out of the root; the standard library does not export it as a
// sentinel.
func escapes(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent"
}

// inside resolves every symlink of rel and returns the result relative to
// the root, and false when it leads outside.
func (r *Root) inside(rel string) (string, bool) {
	target, err := filepath.EvalSymlinks(filepath.Join(r.real, filepath.FromSlash(rel)))
	if err != nil {
		return "", false
	}
	in, err := filepath.Rel(r.real, target)
	if err != nil || in == "." || in == ".." || strings.HasPrefix(in, "../") {
		return "", false
	}
	return filepath.ToSlash(in), true
}

// stat is os.Root.Stat, following symlinks that lead back inside.
func (r *Root) stat(rel string) (fs.FileInfo, error) {
	fi, err := r.root.Stat(rel)
	if escapes(err) {
		if in, ok := r.inside(rel); ok {
			return r.root.Stat(in)
		}
	}
	return fi, err
}

// open is os.Root.OpenFile, following symlinks that lead back inside.
func (r *Root) open(rel string, flag int) (*os.File, error) {
	f, err := r.root.OpenFile(rel, flag, 0)
	if escapes(err) {
		if in, ok := r.inside(rel); ok {
			return r.root.OpenFile(in, flag, 0)
		}
	}
	return f, err
}

// Dir returns the folder the root was opened with.
func (r *Root) Dir() string { return r.dir }

// Close releases the root.
func (r *Root) Close() error { return r.root.Close() }

// classify turns an os.Root error into one of the package's sentinels,
// keeping the original in the chain.
func classify(rel string, err error) error {
	switch {
	case err == nil:
		return nil
	case escapes(err):
		return fmt.Errorf("%w: %q: %w", ErrOutside, rel, err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ELOOP),
		errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.ENODEV):
		// ENXIO and ENODEV: a socket or a device node without a driver,
		// whichever got there between the Stat and the open.
		return fmt.Errorf("%w: %q: %w", ErrNotFound, rel, err)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return fmt.Errorf("%w: %q: %w", ErrInvalid, rel, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %q: %w", ErrPermission, rel, err)
	}
	return fmt.Errorf("%q: %w", rel, err)
}

// Stat returns the FileInfo of rel (a clean relative path), following
// symlinks that stay inside the root. It fails with ErrNotFound unless rel
// is a regular file.
func (r *Root) Stat(rel string) (fs.FileInfo, error) {
	fi, err := r.stat(rel)
	if err != nil {
		return nil, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrNotFound, rel)
	}
	return fi, nil
}

// OpenFile opens rel for reading and returns it with its FileInfo. It
// refuses anything but a regular file with ErrNotFound, and checks that
// before it opens anything, so that a device is never opened; should one
// be swapped in between, it opens without blocking (a fifo does not hang
// it) and checks again on what it opened.
func (r *Root) OpenFile(rel string) (*os.File, fs.FileInfo, error) {
	if _, err := r.Stat(rel); err != nil {
		return nil, nil, err
	}
	f, err := r.open(rel, os.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return nil, nil, classify(rel, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %q is not a regular file", ErrNotFound, rel)
	}
	return f, fi, nil
}

// Limits bound the work of one glob.
type Limits struct {
	// MaxMatches is the most files one glob may match.
	MaxMatches int
	// MaxVisits is the most folder entries one glob may look at.
	MaxVisits int
	// Unusable, when not nil, is called with each file or folder that a
	// glob leaves out because its name is not UsableName.
	Unusable func(rel string)
	// Deadline, when not zero, is when a glob gives up with ErrTooSlow.
	// It is checked before each folder is read and every few hundred
	// entries, so a glob overruns it by at most one batch of entries.
	Deadline time.Time
	// Visits, when not nil, is set to the number of folder entries the
	// glob looked at, whether it succeeded or not.
	Visits *int
}

// Glob returns the regular files that pattern (a clean relative path whose
// segments may hold *, ? and [...] as in the shell; braces are literal) matches,
// sorted bytewise. As in the shell and Python's glob, a wildcard does not
// match a leading "." unless the pattern segment starts with one. Names
// that are not UsableName are left out, and reported to lim.Unusable. Matches
// through symlinks that leave the root are left out. A pattern without
// wildcards is a plain lookup and fails as Stat does.
//
// A segment that is exactly "**" matches zero or more folders, as bash's
// globstar does: "a/**" is every file below a, "a/**/*.rpm" every .rpm
// file below a. It does not enter hidden folders, nor follow symlinks to
// folders (a loop would never end); the other segments and the Limits
// apply as usual.
func (r *Root) Glob(pattern string, lim Limits) ([]string, error) {
	segs := strings.Split(pattern, "/")
	if !slices.ContainsFunc(segs, hasMeta) {
		if _, err := r.Stat(pattern); err != nil {
			return nil, err
		}
		return []string{pattern}, nil
	}
	w := walker{root: r, lim: lim}
	err := w.walk("", segs)
	if lim.Visits != nil {
		*lim.Visits = w.visits
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(w.matches)
	// "a/**/**/b" can reach a file along several ways.
	return slices.Compact(w.matches), nil
}

var braces = strings.NewReplacer("{", `\{`, "}", `\}`)

type walker struct {
	root    *Root
	lim     Limits
	visits  int
	matches []string
}

func (w *walker) walk(dir string, segs []string) error {
	seg := segs[0]
	if seg == "**" {
		return w.walkAny(dir, segs[1:])
	}
	if !hasMeta(seg) {
		return w.visit(path.Join(dir, seg), segs[1:], true)
	}
	// Only *, ? and [...] are wildcards, as in the shell's basic globs:
	// braces, which gobwas/glob would read as alternatives, are literal.
	g, err := glob.Compile(braces.Replace(seg))
	if err != nil {
		return fmt.Errorf("%w: bad pattern %q: %w", ErrInvalid, seg, err)
	}
	names, err := w.readDir(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if name[0] == '.' && seg[0] != '.' {
			continue
		}
		if !g.Match(name) {
			continue
		}
		if !w.usable(dir, name) {
			continue
		}
		if err := w.visit(path.Join(dir, name), segs[1:], false); err != nil {
			return err
		}
	}
	return nil
}

// walkAny matches rest in dir and in every folder below it that is
// neither hidden nor reached through a symlink: "**" standing for zero or
// more folders. With no rest, it matches every file there that is not
// hidden.
//
// The entries' types come with the folder listing (readDirTypes): a
// regular file or a folder is taken as listed, without a stat through the
// root per entry, which would walk every folder of its path again; only a
// symlink or another type is looked up by visit.
func (w *walker) walkAny(dir string, rest []string) error {
	if len(rest) > 0 {
		if err := w.walk(dir, rest); err != nil {
			return err
		}
	}
	ents, err := w.readDirTypes(dir)
	if err != nil {
		return err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range ents {
		name := e.Name()
		if name[0] == '.' || !w.usable(dir, name) {
			continue
		}
		rel := path.Join(dir, name)
		if len(rest) == 0 {
			var err error
			switch {
			case e.Type().IsRegular():
				if err = w.count(1); err == nil {
					err = w.match(rel)
				}
			case e.IsDir():
				// Not a match; counted as visit would.
				err = w.count(1)
			default:
				err = w.visit(rel, nil, false)
			}
			if err != nil {
				return err
			}
		}
		if !e.IsDir() {
			continue
		}
		if err := w.walkAny(rel, rest); err != nil {
			return err
		}
	}
	return nil
}

// usable reports whether the name in folder dir may be matched, and
// reports one that may not to Limits.Unusable.
func (w *walker) usable(dir, name string) bool {
	if UsableName(name) {
		return true
	}
	if w.lim.Unusable != nil {
		w.lim.Unusable(path.Join(dir, name))
	}
	return false
}

// visit follows one candidate: a file when no segments remain, else a
// folder to descend into. Candidates that do not exist, leave the root or
// have the wrong type are skipped, except that a literal segment of the
// pattern (not a wildcard match) that leaves the root fails the glob with
// ErrOutside, as the same path without wildcards would.
func (w *walker) visit(rel string, rest []string, literal bool) error {
	if err := w.count(1); err != nil {
		return err
	}
	fi, err := w.root.stat(rel)
	if err != nil {
		if err := classify(rel, err); literal && errors.Is(err, ErrOutside) {
			return err
		}
		return nil
	}
	if len(rest) > 0 {
		if fi.IsDir() {
			return w.walk(rel, rest)
		}
		return nil
	}
	if fi.Mode().IsRegular() {
		return w.match(rel)
	}
	return nil
}

// match adds the regular file rel to the matches, and fails once they
// pass the limit.
func (w *walker) match(rel string) error {
	w.matches = append(w.matches, rel)
	if w.lim.MaxMatches > 0 && len(w.matches) > w.lim.MaxMatches {
		return fmt.Errorf("%w: the pattern matches more than %d files", ErrTooMany, w.lim.MaxMatches)
	}
	return nil
}

// readDir returns the names in folder dir; a folder that is not there
// holds none.
func (w *walker) readDir(dir string) ([]string, error) {
	return list(w, dir, (*os.File).Readdirnames)
}

// readDirTypes is readDir with each entry's type. A folder opened through
// an os.Root gets them with one fstatat per entry on the folder's
// descriptor, which readDir spares a glob that needs only names.
func (w *walker) readDirTypes(dir string) ([]fs.DirEntry, error) {
	return list(w, dir, (*os.File).ReadDir)
}

func list[T any](w *walker, dir string, read func(*os.File, int) ([]T, error)) ([]T, error) {
	if err := w.checkTime(); err != nil {
		return nil, err
	}
	name := dir
	if name == "" {
		name = "."
	}
	// O_DIRECTORY: only a folder is opened; a fifo or device put in the
	// place of one fails instead of blocking or being opened.
	f, err := w.root.open(name, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK)
	if err != nil {
		if errors.Is(classify(dir, err), ErrNotFound) {
			return nil, nil
		}
		return nil, classify(dir, err)
	}
	defer f.Close()
	// Read in batches and count as it goes, so that a huge folder is not
	// read whole before the limit stops it.
	var all []T
	for {
		batch, err := read(f, readBatch)
		all = append(all, batch...)
		if err := w.count(len(batch)); err != nil {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return nil, classify(dir, err)
		}
	}
}

// readBatch is how many folder entries a glob reads at a time.
const readBatch = 1024

// count adds n to the entries this glob has looked at, and fails once
// that passes the limit.
func (w *walker) count(n int) error {
	before := w.visits
	w.visits += n
	if w.lim.MaxVisits > 0 && w.visits > w.lim.MaxVisits {
		return fmt.Errorf("%w: the pattern visits more than %d entries", ErrTooMany, w.lim.MaxVisits)
	}
	if before/timeCheckEvery != w.visits/timeCheckEvery {
		return w.checkTime()
	}
	return nil
}

// timeCheckEvery is how many entries a glob looks at between two looks
// at the clock, besides one before each folder it reads.
const timeCheckEvery = 256

// checkTime fails once the glob's deadline has passed.
func (w *walker) checkTime() error {
	if !w.lim.Deadline.IsZero() && time.Now().After(w.lim.Deadline) {
		return fmt.Errorf("%w: the pattern was still being expanded after %d entries", ErrTooSlow, w.visits)
	}
	return nil
}
