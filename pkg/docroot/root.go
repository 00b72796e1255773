package docroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/gobwas/glob"
)

// Root is an open document root. Every lookup goes through an os.Root, so
// neither ".." nor a symlink can reach a file outside it; symlinks that
// stay inside are followed.
type Root struct {
	dir  string
	root *os.Root
}

// Open opens the document root dir.
func Open(dir string) (*Root, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("document root: %w", err)
	}
	return &Root{dir: dir, root: r}, nil
}

// Dir returns the folder the root was opened with.
func (r *Root) Dir() string { return r.dir }

// Close releases the root.
func (r *Root) Close() error { return r.root.Close() }

// classify turns an os.Root error into one of the package's sentinels,
// keeping the original in the chain.
func classify(rel string, err error) error {
	var pe *fs.PathError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
		// os.Root's refusal to follow a symlink or ".." out of the root;
		// the standard library does not export it as a sentinel.
		return fmt.Errorf("%w: %q: %w", ErrOutside, rel, err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ELOOP),
		errors.Is(err, syscall.ENAMETOOLONG):
		// A name longer than the file system allows names no file.
		return fmt.Errorf("%w: %q: %w", ErrNotFound, rel, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %q: permission denied: %w", ErrOutside, rel, err)
	}
	return fmt.Errorf("%q: %w", rel, err)
}

// Stat returns the FileInfo of rel (a clean relative path), following
// symlinks that stay inside the root. It fails with ErrNotFound unless rel
// is a regular file.
func (r *Root) Stat(rel string) (fs.FileInfo, error) {
	fi, err := r.root.Stat(rel)
	if err != nil {
		return nil, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrNotFound, rel)
	}
	return fi, nil
}

// OpenFile opens rel for reading and returns it with its FileInfo. It
// opens without blocking (a fifo does not hang it) and refuses anything
// but a regular file with ErrNotFound.
func (r *Root) OpenFile(rel string) (*os.File, fs.FileInfo, error) {
	f, err := r.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
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
}

// Glob returns the regular files that pattern (a clean relative path whose
// segments may hold *, ? and [...] as in the shell, and {a,b}) matches,
// sorted bytewise. As in the shell and Python's glob, a wildcard does not
// match a leading "." unless the pattern segment starts with one. Matches
// through symlinks that leave the root are left out. A pattern without
// wildcards is a plain lookup and fails as Stat does. A "**" segment is
// the same as "*" here; GlobRecursive gives it its recursive meaning.
func (r *Root) Glob(pattern string, lim Limits) ([]string, error) {
	return r.glob(pattern, lim, false)
}

// GlobRecursive is Glob where a segment that is exactly "**" matches any
// number of folders, none included, as in bash with globstar: "yum/**/*.rpm"
// matches yum/a.rpm and yum/el9/x86_64/Packages/b.rpm. A trailing "**"
// matches every file below. "**" does not descend into hidden folders
// (names starting with ".") nor through symlinks to folders, so it cannot
// loop; symlinks named by the other segments are followed as in Glob. The
// same Limits bound it: every folder entry it lists counts as a visit.
func (r *Root) GlobRecursive(pattern string, lim Limits) ([]string, error) {
	return r.glob(pattern, lim, true)
}

func (r *Root) glob(pattern string, lim Limits, recursive bool) ([]string, error) {
	segs := strings.Split(pattern, "/")
	if !slices.ContainsFunc(segs, hasMeta) {
		if _, err := r.Stat(pattern); err != nil {
			return nil, err
		}
		return []string{pattern}, nil
	}
	w := walker{root: r, lim: lim}
	if recursive {
		// "**/**" matches what "**" does; keeping one saves walking the
		// same folders twice.
		segs = slices.CompactFunc(segs, func(a, b string) bool { return a == globstar && b == globstar })
		w.recursive = true
		w.seen = make(map[string]bool)
	}
	if err := w.walk("", segs, nil); err != nil {
		return nil, err
	}
	slices.Sort(w.matches)
	return w.matches, nil
}

// globstar is the segment that GlobRecursive gives its recursive meaning.
const globstar = "**"

type walker struct {
	root      *Root
	lim       Limits
	recursive bool
	// seen holds the matches so far when several "**" could reach the
	// same file in more than one way ("a/**/b/**" and a/b/b/x).
	seen    map[string]bool
	visits  int
	matches []string
}

// walk matches segs against the folder dir. listed, when not nil, is the
// listing of dir already read by the caller.
func (w *walker) walk(dir string, segs []string, listed []fs.DirEntry) error {
	seg := segs[0]
	if !hasMeta(seg) {
		return w.visit(path.Join(dir, seg), segs[1:])
	}
	entries := listed
	if entries == nil {
		var err error
		if entries, err = w.readDir(dir); err != nil {
			return err
		}
	}
	if w.recursive && seg == globstar {
		return w.walkGlobstar(dir, segs, entries)
	}
	g, err := glob.Compile(seg)
	if err != nil {
		return fmt.Errorf("%w: bad pattern %q: %w", ErrInvalid, seg, err)
	}
	for _, e := range entries {
		name := e.Name()
		if name[0] == '.' && seg[0] != '.' {
			continue
		}
		if !g.Match(name) {
			continue
		}
		if err := w.visit(path.Join(dir, name), segs[1:]); err != nil {
			return err
		}
	}
	return nil
}

// walkGlobstar matches segs, which start with "**", in dir: the rest of
// the pattern right here (zero folders), then "**" again in each real,
// non-hidden subfolder (one folder more).
func (w *walker) walkGlobstar(dir string, segs []string, entries []fs.DirEntry) error {
	rest := segs[1:]
	if len(rest) == 0 {
		rest = []string{"*"}
	}
	if err := w.walk(dir, rest, entries); err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name()[0] == '.' || !e.IsDir() {
			continue
		}
		if err := w.walk(path.Join(dir, e.Name()), segs, nil); err != nil {
			return err
		}
	}
	return nil
}

// visit follows one candidate: a file when no segments remain, else a
// folder to descend into. Candidates that do not exist, leave the root or
// have the wrong type are skipped.
func (w *walker) visit(rel string, rest []string) error {
	if err := w.count(1); err != nil {
		return err
	}
	fi, err := w.root.root.Stat(rel)
	if err != nil {
		return nil
	}
	if len(rest) > 0 {
		if fi.IsDir() {
			return w.walk(rel, rest, nil)
		}
		return nil
	}
	if fi.Mode().IsRegular() {
		if w.seen != nil {
			if w.seen[rel] {
				return nil
			}
			w.seen[rel] = true
		}
		w.matches = append(w.matches, rel)
		if w.lim.MaxMatches > 0 && len(w.matches) > w.lim.MaxMatches {
			return fmt.Errorf("%w: the pattern matches more than %d files", ErrTooMany, w.lim.MaxMatches)
		}
	}
	return nil
}

// readDir lists dir; a folder that does not exist or is not a folder
// lists nothing.
func (w *walker) readDir(dir string) ([]fs.DirEntry, error) {
	name := dir
	if name == "" {
		name = "."
	}
	f, err := w.root.root.Open(name)
	if err != nil {
		if errors.Is(classify(dir, err), ErrNotFound) {
			return nil, nil
		}
		return nil, classify(dir, err)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, nil // not a folder: nothing matches below it
	}
	return entries, w.count(len(entries))
}

// count adds n to the entries this glob has looked at, and fails once
// that passes the limit.
func (w *walker) count(n int) error {
	w.visits += n
	if w.lim.MaxVisits > 0 && w.visits > w.lim.MaxVisits {
		return fmt.Errorf("%w: the pattern visits more than %d entries", ErrTooMany, w.lim.MaxVisits)
	}
	return nil
}
