// Package warm hashes a mirror's files ahead of time into the piece cache,
// so that the first client to ask for a torrent of them never waits for
// hashing. It is meant to run after each repository sync.
//
// Each file goes through the same steps as in the service: its piece
// cache entry is loaded and kept when it matches the file's size, mtime
// and inode (piececache.Store.Load); otherwise the file is hashed
// (piececache.HashFile, under the service's lock on the entry) and the
// entry written atomically (piececache.Store.Save),
// so that the service, in this process or another, finds it valid, and a
// run stopped half-way loses nothing already written. Several files are
// hashed at once, one per worker, each on its share of the cores.
package warm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// Options are what a run works on.
type Options struct {
	// Root is the document root the patterns are matched under.
	Root *docroot.Root
	// Pieces is the piece cache the service uses.
	Pieces piececache.Store
	// PieceLength is the service's piece length.
	PieceLength int64
	// V2 asks for entries that hold the v2 piece layer too, as the
	// service's hybrid format needs them.
	V2 bool
	// Workers is how many files are hashed at once; 0 means
	// pieces.FilesAtOnce (for v1 digests with AVX-512, 32 per core;
	// else one per core). Without AVX-512, each file is hashed on GOMAXPROCS/Workers
	// cores (at least one), so that -j 1 hashes one large image on every
	// core; with it, every file's pieces share the lanes of every core.
	Workers int
	// Log receives a warning per file that could not be hashed; nil
	// means slog.Default().
	Log *slog.Logger
}

// ErrNoFiles reports patterns that match no file at all.
var ErrNoFiles = errors.New("the patterns match no file")

// ErrFailed reports a run in which some files could not be hashed or
// their entries not written; each was logged.
var ErrFailed = errors.New("some files were not hashed")

// ErrChanged reports a file that kept changing while it was hashed (a
// sync still writing it); it is left for the service to hash later.
var ErrChanged = piececache.ErrChanged

// Progress is the live state of a run. Its methods are safe to call from
// any goroutine while the run goes on.
type Progress struct {
	startNs      atomic.Int64
	matched      atomic.Bool
	files, bytes atomic.Int64
	filesDone    atomic.Int64
	bytesDone    atomic.Int64
	hashed       atomic.Int64
	bytesHashed  atomic.Int64
	valid        atomic.Int64
	failed       atomic.Int64
	workers      atomic.Int64
}

// Snapshot is Progress at one moment, or the outcome of a finished run.
type Snapshot struct {
	// Matched reports that the patterns have been expanded: Files and
	// Bytes are known.
	Matched bool
	// Files and Bytes are what the patterns matched.
	Files, Bytes int64
	// FilesDone and BytesDone are the files finished so far, whatever
	// the outcome; BytesDone also counts the bytes hashed of the files
	// being hashed.
	FilesDone, BytesDone int64
	// Hashed files had no valid entry and were hashed; BytesHashed counts
	// every byte read, including those of files not finished.
	Hashed, BytesHashed int64
	// Valid files had a valid entry already.
	Valid int64
	// Failed files could not be hashed or their entry not written.
	Failed int64
	// Workers is the number of files hashed at once.
	Workers int
	// Elapsed is the time since the run started.
	Elapsed time.Duration
}

// Snapshot returns the current state.
func (p *Progress) Snapshot() Snapshot {
	s := Snapshot{
		Matched:     p.matched.Load(),
		Files:       p.files.Load(),
		Bytes:       p.bytes.Load(),
		FilesDone:   p.filesDone.Load(),
		BytesDone:   p.bytesDone.Load(),
		Hashed:      p.hashed.Load(),
		BytesHashed: p.bytesHashed.Load(),
		Valid:       p.valid.Load(),
		Failed:      p.failed.Load(),
		Workers:     int(p.workers.Load()),
	}
	if start := p.startNs.Load(); start != 0 {
		s.Elapsed = time.Since(time.Unix(0, start))
	}
	return s
}

// Left estimates the time until the run ends from the hashing rate so
// far, and reports false while there is no rate to go by.
func (s Snapshot) Left() (time.Duration, bool) {
	if s.BytesHashed == 0 || s.Elapsed <= 0 {
		return 0, s.Matched && s.BytesDone >= s.Bytes
	}
	rate := float64(s.BytesHashed) / s.Elapsed.Seconds()
	return time.Duration(float64(s.Bytes-s.BytesDone) / rate * float64(time.Second)), true
}

type job struct {
	rel  string
	size int64
}

// Run hashes every regular file that patterns (paths relative to the
// document root, with *, ?, [...] and ** as in docroot.Root.Glob)
// match, unless its piece cache entry is valid. p, which may be nil, shows
// the progress while it runs. When ctx ends, Run stops hashing, keeps the
// entries already written and returns ctx's error. A pattern that matches
// nothing is logged; ErrNoFiles when none matches anything, ErrFailed
// when some files failed.
func Run(ctx context.Context, opt Options, patterns []string, p *Progress) (Snapshot, error) {
	if p == nil {
		p = new(Progress)
	}
	p.startNs.Store(time.Now().UnixNano())
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	opt.Log = log
	workers := opt.Workers
	if workers <= 0 {
		workers = pieces.FilesAtOnce(opt.V2)
	}
	p.workers.Store(int64(workers))
	threads := max(1, runtime.GOMAXPROCS(0)/workers)
	jobs, err := match(opt.Root, patterns, log)
	if err != nil {
		return p.Snapshot(), err
	}
	for _, j := range jobs {
		p.files.Add(1)
		p.bytes.Add(j.size)
	}
	p.matched.Store(true)
	if len(jobs) == 0 {
		return p.Snapshot(), ErrNoFiles
	}
	// The largest files first: the last worker to finish then finishes
	// soon after the others.
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.size, a.size) })

	queue := make(chan job)
	var wg sync.WaitGroup
	for range min(workers, len(jobs)) {
		wg.Go(func() {
			for j := range queue {
				if err := warmFile(ctx, opt, j, threads, p); err != nil {
					if ctx.Err() != nil {
						continue
					}
					p.failed.Add(1)
					log.Warn("warm: file not hashed", "path", j.rel, "err", err)
				}
				p.filesDone.Add(1)
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	s := p.Snapshot()
	switch {
	case ctx.Err() != nil:
		return s, fmt.Errorf("warm: %w", ctx.Err())
	case s.Failed > 0:
		return s, fmt.Errorf("warm: %d of %d files: %w", s.Failed, s.Files, ErrFailed)
	}
	return s, nil
}

// match expands the patterns into the files to warm, each once, with
// their sizes. A "**" segment matches any number of folders (see
// docroot.Root.Glob).
func match(root *docroot.Root, patterns []string, log *slog.Logger) ([]job, error) {
	seen := make(map[string]bool)
	var jobs []job
	for _, pat := range patterns {
		rel, err := docroot.Clean(pat)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", pat, err)
		}
		// A mirror has as many files as it has: no limit, and ** does
		// not follow symlinks to folders, so the walk ends.
		paths, err := root.Glob(rel, docroot.Limits{})
		if errors.Is(err, docroot.ErrNotFound) {
			paths, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", pat, err)
		}
		if len(paths) == 0 {
			log.Warn("warm: nothing matches", "pattern", pat)
		}
		for _, rel := range paths {
			if seen[rel] {
				continue
			}
			seen[rel] = true
			fi, err := root.Stat(rel)
			if err != nil {
				// Gone since the glob saw it: nothing to warm.
				continue
			}
			jobs = append(jobs, job{rel, fi.Size()})
		}
	}
	return jobs, nil
}

// warmFile makes sure the piece cache holds a valid entry for j, as the
// service's digests step does: it loads the entry, and when the entry is
// missing, stale or corrupt, hashes the file on threads cores and saves
// its entry. A file that changes while it is hashed is hashed once more,
// then given up with ErrChanged.
func warmFile(ctx context.Context, opt Options, j job, threads int, p *Progress) (err error) {
	var counted atomic.Int64
	defer func() {
		// Whatever was counted while hashing, a finished file adds its
		// size to BytesDone, once; an interrupted one nothing.
		if err != nil && ctx.Err() != nil {
			p.bytesDone.Add(-counted.Load())
			return
		}
		p.bytesDone.Add(j.size - counted.Load())
	}()
	f, fi, err := opt.Root.OpenFile(j.rel)
	if err != nil {
		return err
	}
	defer f.Close()
	st := piececache.StampOf(fi)
	if _, err := opt.Pieces.Load(j.rel, st, opt.PieceLength, opt.V2); err == nil {
		p.valid.Add(1)
		// The operator asked for this file: keep its entry from gc as
		// if it had been served.
		markUsed(opt, j.rel)
		return nil
	}
	// The service's lock on the entry: a request hashing the same file
	// now is waited for, and its entry then found valid. A cache where
	// the lock file cannot be made is warmed without it, as the service
	// does; the atomic Save keeps readers safe either way.
	l, err := opt.Pieces.Lock(ctx, j.rel, nil)
	switch {
	case err == nil:
		defer func() {
			if err := l.Release(); err != nil {
				opt.Log.Warn("warm: lock not released", "path", j.rel, "err", err)
			}
		}()
		if _, err := opt.Pieces.Load(j.rel, st, opt.PieceLength, opt.V2); err == nil {
			p.valid.Add(1)
			markUsed(opt, j.rel)
			return nil
		}
	case errors.Is(err, filelock.ErrTimeout):
		return fmt.Errorf("%s: %w", j.rel, err)
	}
	r := func(f io.ReaderAt) io.ReaderAt { return &readerAt{ctx: ctx, r: f, p: p, counted: &counted} }
	racy := false
	d, st, err := piececache.HashFile(f, st, piececache.HashOptions{
		PieceLength: opt.PieceLength, V2: opt.V2, Workers: threads, Wrap: r,
		Racy: func() { racy = true },
	})
	if err != nil {
		return fmt.Errorf("%s: %w", j.rel, err)
	}
	if racy {
		// Written as it was hashed: the digests may mix two versions
		// that share one stamp, so they are not cached.
		return fmt.Errorf("%s: %w", j.rel, ErrChanged)
	}
	if err := opt.Pieces.Save(j.rel, st, d); err != nil {
		return err
	}
	p.hashed.Add(1)
	return nil
}

// markUsed records that the valid entry of rel was used now, so that gc
// keeps it; a cache where that cannot be written is logged, and the file
// still counts as warm.
func markUsed(opt Options, rel string) {
	if _, err := opt.Pieces.MarkUsed(rel, opt.PieceLength, time.Now()); err != nil {
		opt.Log.Warn("warm: entry valid, but its use could not be recorded", "path", rel, "err", err)
	}
}

// readerAt counts the bytes read into the progress and stops at ctx's
// end.
type readerAt struct {
	ctx     context.Context
	r       io.ReaderAt
	p       *Progress
	counted *atomic.Int64
}

func (r *readerAt) ReadAt(b []byte, off int64) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.ReadAt(b, off)
	r.p.bytesHashed.Add(int64(n))
	r.p.bytesDone.Add(int64(n))
	r.counted.Add(int64(n))
	return n, err
}
