// Package gc cleans the service's cache folder: it removes the entries
// not used for a while, the entries of files the mirror no longer has,
// temporary files left by interrupted writes, and the folders that this
// leaves empty.
//
// An entry's last use is its access time, which the service sets when it
// serves a torrent from the entry, at most once a day (see package
// cachefile). gc reads info entries with O_NOATIME, so that its own reads
// never count as a use.
//
// Removing an entry is always safe: the service rebuilds a missing entry
// on the next request that needs it. Entries of files whose first-level
// folder is missing from the document root are kept, whatever their age
// says about the source: a mirror that is not mounted must not empty the
// cache.
package gc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/accesslist"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
)

// TempAge is how old a temporary file must be before gc removes it: a
// write in progress takes well under a second.
const TempAge = time.Hour

// Options are what a run cleans and how.
type Options struct {
	// Pieces and Info are the piece and info cache folders.
	Pieces, Info string
	// Root is the document root that piece entries belong to; empty means
	// that the sources of piece entries are not checked, only their age.
	// Info entries are checked against the root they record.
	Root string
	// MaxAge removes entries not used for longer than this. 0 removes
	// every entry. Under a day (cachefile.MarkInterval) it removes entries
	// in use too, since a use is recorded at most once a day.
	MaxAge time.Duration
	// Whitelist, when set, is the tracker's whitelist file that the
	// service keeps (tracker-whitelist): after the sweep, the info hashes
	// of entries that are no longer in the info cache are taken off it.
	Whitelist string
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// Report, when set, is called for each removal (or, in a dry run,
	// each removal it would make).
	Report func(Removal)
	// Log receives the problems met on the way; nil means slog.Default().
	Log *slog.Logger
	// Now is the current time; nil means time.Now.
	Now func() time.Time
}

// Kind is what a removal removes.
type Kind int

// The kinds of removal, in the order Result counts them.
const (
	PieceEntry Kind = iota
	InfoEntry
	TempFile
	Folder
	numKinds
)

var kindNames = [numKinds][2]string{
	{"piece entry", "piece entries"},
	{"info entry", "info entries"},
	{"temporary file", "temporary files"},
	{"empty folder", "empty folders"},
}

// String names the kind, in the singular.
func (k Kind) String() string { return kindNames[k][0] }

// Count names n things of the kind: "1 info entry", "3 piece entries".
func (k Kind) Count(n int) string {
	if n == 1 {
		return "1 " + kindNames[k][0]
	}
	return fmt.Sprintf("%d %s", n, kindNames[k][1])
}

// Removal is one file or folder removed.
type Removal struct {
	Kind Kind
	// Path is the file's or folder's name.
	Path string
	// Bytes is the file's size.
	Bytes int64
	// Why says why an entry or file goes: "unused for 41 days", "source
	// file gone", ...; empty for a folder, which goes because it is empty.
	Why string
}

// Result counts what a run removed (or would remove) and what it kept.
type Result struct {
	// Removed counts the removals by kind; Bytes is their total size.
	Removed [numKinds]int
	Bytes   int64
	// Kept counts the cache entries left in place; KeptBytes their size.
	Kept      int
	KeptBytes int64
	// Failed counts the files that could not be removed; each was logged.
	Failed int
	// Unlisted counts the info hashes taken off the tracker's whitelist
	// (Options.Whitelist).
	Unlisted int
}

// ErrFailed reports a run that could not remove everything it meant to.
var ErrFailed = errors.New("some cache files could not be removed")

type collector struct {
	opt     Options
	log     *slog.Logger
	now     time.Time
	res     Result
	root    *docroot.Root
	roots   map[string]*docroot.Root // by folder, for info entries
	tops    map[string]bool          // "root\x00top" → the folder exists
	missing map[string]bool          // "root\x00rel" → the file is not found
	removed map[string]bool          // entries removed (or, dry, to be) in this run
	// listed holds the info hashes of the info entries kept, v1 and
	// truncated v2, when the whitelist is pruned.
	listed map[accesslist.Hash]bool
	// unread is set when a kept info entry could not be read: its hashes
	// are unknown, so the whitelist is left as it is.
	unread bool
}

// Run cleans the cache once. It returns ErrFailed (wrapped) when some
// files could not be removed, and ctx's error when ctx ends first.
func Run(ctx context.Context, opt Options) (Result, error) {
	c := &collector{opt: opt, log: opt.Log, roots: make(map[string]*docroot.Root), tops: make(map[string]bool), missing: make(map[string]bool)}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.now = time.Now()
	if opt.Now != nil {
		c.now = opt.Now()
	}
	defer func() {
		for _, r := range c.roots {
			r.Close()
		}
	}()
	if opt.Root != "" {
		r, err := c.openRoot(opt.Root)
		if err != nil {
			return c.res, err
		}
		c.root = r
	}
	if _, err := c.sweep(ctx, opt.Pieces, "", PieceEntry, c.pieceEntry); err != nil {
		return c.res, err
	}
	if opt.Whitelist != "" {
		c.listed = map[accesslist.Hash]bool{}
	}
	if _, err := c.sweep(ctx, opt.Info, "", InfoEntry, c.infoEntry); err != nil {
		return c.res, err
	}
	if err := c.pruneWhitelist(); err != nil {
		return c.res, err
	}
	if c.res.Failed > 0 {
		return c.res, fmt.Errorf("gc: %d files: %w", c.res.Failed, ErrFailed)
	}
	return c.res, nil
}

func (c *collector) openRoot(dir string) (*docroot.Root, error) {
	if r, ok := c.roots[dir]; ok {
		return r, nil
	}
	r, err := docroot.Open(dir)
	if err != nil {
		return nil, err
	}
	c.roots[dir] = r
	return r, nil
}

// entryFunc decides about one file that may be a cache entry: rel is its
// name relative to the swept folder. It returns why it goes, or "" to
// keep it, and whether it is an entry at all.
type entryFunc func(name, rel string, fi fs.FileInfo) (why string, entry bool)

// sweep cleans the folder dir (rel below the top of the sweep): entries
// of the kind given through entry, temporary files by age, and
// subfolders, which it removes when they end up empty. It reports whether
// dir is (or, in a dry run, would be) empty afterwards. The top folder
// itself is never removed.
func (c *collector) sweep(ctx context.Context, dir, rel string, kind Kind, entry entryFunc) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("gc: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return rel != "", nil
	}
	if err != nil {
		return false, fmt.Errorf("gc: %w", err)
	}
	left := 0
	for _, e := range ents {
		name := filepath.Join(dir, e.Name())
		sub := path.Join(rel, e.Name())
		if e.IsDir() {
			empty, err := c.sweep(ctx, name, sub, kind, entry)
			if err != nil {
				return false, err
			}
			if !empty || !c.remove(Removal{Kind: Folder, Path: name}, nil) {
				left++
			}
			continue
		}
		fi, err := e.Info()
		if err != nil {
			// Removed meanwhile (by the service's rename, or another gc).
			continue
		}
		switch {
		case !fi.Mode().IsRegular():
			left++
		case strings.HasPrefix(e.Name(), ".tmp-"):
			if age := c.now.Sub(fi.ModTime()); age > TempAge {
				if c.remove(Removal{Kind: TempFile, Path: name, Bytes: fi.Size(), Why: "left over by an interrupted write " + days(age) + " ago"}, nil) {
					continue
				}
			}
			left++
		case strings.HasSuffix(e.Name(), ".lock"):
			// The service's lock of an entry (README, "Many processes")
			// goes with its entry, silently: when this run removed the
			// entry, or the entry is gone and the lock is older than
			// TempAge. Removing a lock that a process still holds costs
			// work done twice, never wrong data.
			owner := strings.TrimSuffix(name, ".lock")
			_, err := os.Lstat(owner)
			if c.removed[owner] || (errors.Is(err, fs.ErrNotExist) && c.now.Sub(fi.ModTime()) > TempAge) {
				if c.opt.DryRun || os.Remove(name) == nil || !fileExists(name) {
					continue
				}
			}
			left++
		default:
			why, isEntry := entry(name, sub, fi)
			if why != "" && c.remove(Removal{Kind: kind, Path: name, Bytes: fi.Size(), Why: why}, fi) {
				continue
			}
			if isEntry {
				c.res.Kept++
				c.res.KeptBytes += fi.Size()
			}
			left++
		}
	}
	return rel != "" && left == 0, nil
}

// remove removes one file or empty folder (or, in a dry run, only
// reports it) and reports whether it is gone. For an entry, seen is what
// the decision was based on: an entry that changed since (the service
// marked it used, or replaced it) is kept.
func (c *collector) remove(r Removal, seen fs.FileInfo) bool {
	if seen != nil {
		now, err := os.Lstat(r.Path)
		if err != nil || !os.SameFile(now, seen) || !cachefile.LastUsed(now).Equal(cachefile.LastUsed(seen)) {
			return false
		}
	}
	if !c.opt.DryRun {
		if err := os.Remove(r.Path); err != nil {
			if r.Kind == Folder || errors.Is(err, fs.ErrNotExist) {
				// Not empty any more (the service wrote into it), or
				// removed by someone else: nothing to do.
				return false
			}
			c.log.Warn("gc: cannot remove", "path", r.Path, "err", err)
			c.res.Failed++
			return false
		}
	}
	if c.removed == nil {
		c.removed = make(map[string]bool)
	}
	c.removed[r.Path] = true
	c.res.Removed[r.Kind]++
	c.res.Bytes += r.Bytes
	if c.opt.Report != nil {
		c.opt.Report(r)
	}
	return true
}

// unused returns why an entry last used at fi's atime goes, or "".
func (c *collector) unused(fi fs.FileInfo) string {
	age := c.now.Sub(cachefile.LastUsed(fi))
	if age > c.opt.MaxAge || c.opt.MaxAge == 0 {
		return "unused for " + days(age)
	}
	return ""
}

// pieceEntry decides about pieces/{path}/{piece length}.
func (c *collector) pieceEntry(name, rel string, fi fs.FileInfo) (string, bool) {
	src, n := path.Split(rel)
	src = strings.TrimSuffix(src, "/")
	if src == "" || !isDigits(n) {
		// Not an entry this program writes: leave it alone.
		return "", false
	}
	if why := c.unused(fi); why != "" {
		return why, true
	}
	if c.root != nil && c.gone(c.root, src) {
		return "source file gone", true
	}
	return "", true
}

// infoEntry decides about info/{key}.
func (c *collector) infoEntry(name, rel string, fi fs.FileInfo) (string, bool) {
	if len(rel) != 40 || strings.Trim(rel, "0123456789abcdef") != "" {
		return "", false
	}
	if why := c.unused(fi); why != "" {
		return why, true
	}
	b, _, err := cachefile.ReadQuietly(name, 1<<30)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("gc: cannot read", "path", name, "err", err)
			c.unread = true
		}
		return "", true
	}
	e, err := infocache.Decode(b)
	if err != nil || infocache.Key(e.Request) != rel {
		// The service never trusts it and would rebuild it.
		return "corrupt", true
	}
	why := c.infoGone(e)
	if why == "" {
		c.list(e)
	}
	return why, true
}

// infoGone says why info entry e goes because of its source files, or ""
// to keep it.
func (c *collector) infoGone(e *infocache.Entry) string {
	dir, ok := infocache.RootOf(e.Settings)
	if !ok {
		return ""
	}
	root, err := c.openRoot(dir)
	if err != nil {
		// The root it was built from is not there (not mounted?): keep
		// it until it ages.
		return ""
	}
	for _, p := range e.Paths {
		if c.gone(root, p) {
			return "file gone: " + p
		}
	}
	return ""
}

// gone reports whether the source file rel is known to be missing from
// root: not there while its first-level folder is (for a file at the top,
// while the root holds anything at all). Each file is looked up once per
// run: the info entries of overlapping requests share most of their
// files, and piece entries the files of info entries.
func (c *collector) gone(root *docroot.Root, rel string) bool {
	key := root.Dir() + "\x00" + rel
	missing, ok := c.missing[key]
	if !ok {
		_, err := root.Stat(rel)
		missing = errors.Is(err, docroot.ErrNotFound)
		c.missing[key] = missing
	}
	if !missing {
		return false
	}
	top, inside := docroot.TopFolder(rel)
	if !inside {
		top = "."
	}
	topKey := root.Dir() + "\x00" + top
	exists, ok := c.tops[topKey]
	if !ok {
		exists = hasEntries(filepath.Join(root.Dir(), top))
		c.tops[topKey] = exists
		if !exists {
			c.log.Warn("gc: folder missing or empty in the document root (not mounted?): keeping the entries of its files", "root", root.Dir(), "folder", top)
		}
	}
	return exists
}

// hasEntries reports whether dir is a folder with anything in it.
func hasEntries(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// days formats an age in whole days, or hours under two days.
func days(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	}
	return d.Round(time.Minute).String()
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func fileExists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}
