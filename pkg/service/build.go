package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/failpoint"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// singlePrefix starts the request text of single mode. The NUL keeps it
// apart from any digest request, whose paths cannot hold one.
const singlePrefix = "\x00single\n"

// request is what a torrent is built from.
type request struct {
	// text names the info cache entry: the digest request's "\n"-joined
	// paths, or singlePrefix + the "\n"-joined files of a single-mode
	// request (its path, or its glob's matches: see singleEntry).
	text string
	// paths are the clean relative paths of a digest request, in order,
	// or the matches of a single-mode glob, sorted.
	paths []string
	// pattern is the clean path of a single-mode request without
	// wildcards, whose file is looked up when the torrent is built.
	pattern string
	// isSingle marks a single-mode request.
	isSingle bool
	// key is infocache.Key(text) when the caller knows it already (a
	// digest), to spare hashing a long request text again.
	key string
	// loaded is the entry of key as the caller loaded it (a digest GET,
	// which reads the entry for its paths), so that it is not loaded
	// twice; nil to load it.
	loaded *checkedEntry
}

func (rq request) single() bool { return rq.isSingle }

// files returns the request's files: the posted paths or the glob's
// matches, or for a path without wildcards, that path once its file is
// found.
func (s *Service) files(root *docroot.Root, rq request) ([]string, error) {
	if rq.pattern == "" {
		return rq.paths, nil
	}
	negKey := root.Dir() + "\x00" + rq.pattern
	if err := s.negative.get(negKey, s.now()); err != nil {
		return nil, err
	}
	if strings.Contains(rq.pattern, "**") {
		release, err := s.deepWalks.acquire(s.cfg.LockTimeout)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	s.Stats.Walks.Add(1)
	var unusable, visits int
	var first string
	lim := docroot.Limits{MaxMatches: s.cfg.MaxFiles, MaxVisits: s.cfg.MaxWalk,
		Deadline: time.Now().Add(s.cfg.MaxWalkTime), Visits: &visits,
		Unusable: func(rel string) {
			if unusable++; unusable == 1 {
				first = rel
			}
		}}
	paths, err := root.Glob(rq.pattern, lim)
	if unusable > 0 {
		s.log.Warn("glob left out names that BitTorrent clients cannot use (control characters, or not UTF-8)",
			"pattern", rq.pattern, "left_out", unusable, "first", first)
	}
	if err == nil && len(paths) == 0 {
		err = clientError(http.StatusNotFound, "not found: nothing matches %q", rq.pattern)
	}
	if err != nil {
		if visits > expensiveWalk && !errors.Is(err, fs.ErrPermission) {
			s.negative.put(negKey, err, s.now())
		}
		return nil, err
	}
	return paths, nil
}

// rootOf returns the configured document root, or the request's, not
// opened yet: see lazyRoot.
func (s *Service) rootOf(r *http.Request) (*lazyRoot, error) {
	dir := s.cfg.Root
	if dir == "" {
		dir = s.env(r, "DOCUMENT_ROOT")
	}
	if dir == "" {
		return nil, fmt.Errorf("no document root: set root, or have the web server pass DOCUMENT_ROOT")
	}
	return &lazyRoot{dir: dir}, nil
}

// lazyRoot is a request's document root, opened (docroot.Open: symlinks
// resolved, an os.Root opened) when first needed. A request answered from
// an info cache entry checked less than revalidate ago needs only its
// name, for the entry's settings. Call close when done.
type lazyRoot struct {
	dir  string
	root *docroot.Root
}

func (l *lazyRoot) open() (*docroot.Root, error) {
	if l.root == nil {
		r, err := docroot.Open(l.dir)
		if err != nil {
			return nil, err
		}
		l.root = r
	}
	return l.root, nil
}

func (l *lazyRoot) close() {
	if l.root != nil {
		l.root.Close()
	}
}

// settings describes what besides the files shapes a torrent's info; a
// cache entry made under other settings is not used. Only the document
// root varies, and rarely (the root setting, or one DOCUMENT_ROOT per
// server), so the text made for the last one is kept.
func (s *Service) settings(root *lazyRoot) string {
	if last := s.lastSettings.Load(); last != nil && last.dir == root.dir {
		return last.text
	}
	text := infocache.Settings(string(s.cfg.Format), s.cfg.PieceLength, s.cfg.ServiceName, root.dir)
	s.lastSettings.Store(&rootSettings{dir: root.dir, text: text})
	return text
}

// rootSettings is the settings text of the document root dir.
type rootSettings struct{ dir, text string }

// entry returns the torrent of rq: from the info cache when the entry was
// made under the same settings from the same files, checking the files
// again once the last check is older than the revalidate setting; else
// built anew, once however many requests of however many processes ask
// for it at the same time. A request waits for the others at most
// lock-timeout in all, then gets ErrWaitTimeout. checked is when the
// entry's files were last checked (or it was built): the answer may be
// kept until checked + revalidate (see maxAge).
func (s *Service) entry(root *lazyRoot, rq request) (e *infocache.Entry, checked time.Time, err error) {
	key := rq.key
	if key == "" {
		key = infocache.Key(rq.text)
	}
	var c checkedEntry
	var ok bool
	if rq.loaded != nil {
		c, ok = s.usable(root, rq, key, *rq.loaded)
	} else {
		c, ok = s.cached(root, rq, key)
	}
	if ok {
		s.infoBound.Served(key, s.now())
		return c.e, c.checked, nil
	}
	// The deadline bounds waiting, not working: it does not reach into the
	// request's own hashing, and a lock that is free is always taken.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LockTimeout)
	defer cancel()
	c, _, err = s.builds.do(ctx, s.settings(root)+"\x00"+key, func() (checkedEntry, error) {
		start := time.Now()
		// The files come first: a request that names none, or files
		// that cannot make one torrent, fails here and leaves no lock
		// file or entry behind.
		src, err := s.resolve(root, rq)
		if err != nil {
			return checkedEntry{}, err
		}
		defer src.look.Close()
		unlock, err := s.lock(ctx, s.infos.LockPath(key))
		if err != nil {
			return checkedEntry{}, err
		}
		defer unlock()
		// Another process may have built it while this one waited.
		if c, ok := s.cached(root, rq, key); ok {
			return c, nil
		}
		e, err := s.build(ctx, root, rq, key, src, start)
		return checkedEntry{e, s.now()}, err
	})
	return c.e, c.checked, err
}

// checkedEntry is an info cache entry and when its files were last
// checked.
type checkedEntry struct {
	e       *infocache.Entry
	checked time.Time
}

// cached returns the info cache entry of rq and when its files were last
// checked, when it may be served. An entry this process loaded before
// comes from memory while its file is unchanged (see loadEntry).
func (s *Service) cached(root *lazyRoot, rq request, key string) (checkedEntry, bool) {
	e, checked, err := s.loadEntry(key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, infocache.ErrCorrupt) {
			s.cacheProblem(err)
		}
		return checkedEntry{}, false
	}
	return s.usable(root, rq, key, checkedEntry{e, checked})
}

// usable returns c, the loaded info cache entry key of rq, when it may be
// served, checking its files again when revalidate has passed.
func (s *Service) usable(root *lazyRoot, rq request, key string, c checkedEntry) (checkedEntry, bool) {
	e, checked := c.e, c.checked
	switch {
	case e.Settings != s.settings(root):
	case rq.paths != nil && !slices.Equal(e.Paths, rq.paths):
	case s.fresh(checked):
		return checkedEntry{e, checked}, true
	case s.unchanged(root, rq, e):
		now := s.now()
		if err := s.infos.Touch(key, now); err != nil {
			s.cacheProblem(err)
		}
		s.touched(key, e)
		return checkedEntry{e, now}, true
	}
	return checkedEntry{}, false
}

// fresh reports whether files last checked at checked may be trusted
// without a new check: less than revalidate ago. A check time in the
// future (the clock was stepped back since, or an entry was copied from
// another host) is expired: trusting it would serve a stale torrent for as
// long as the offset lasts.
func (s *Service) fresh(checked time.Time) bool {
	age := s.now().Sub(checked)
	return age >= 0 && age <= s.cfg.Revalidate
}

// lock takes the file lock name, waiting for another process that holds
// it until ctx ends (then ErrWaitTimeout). When the lock file cannot be
// used at all (the cache folder is read-only, say), the work goes on
// without it, and the log says so once a minute. The returned function
// releases the lock.
func (s *Service) lock(ctx context.Context, name string) (unlock func(), err error) {
	return s.lockWith(ctx, name, filelock.Acquire)
}

// lockDir is lock on the folder dir (filelock.AcquireDir).
func (s *Service) lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	return s.lockWith(ctx, dir, filelock.AcquireDir)
}

func (s *Service) lockWith(ctx context.Context, name string, acquire func(context.Context, string, func()) (*filelock.Lock, error)) (unlock func(), err error) {
	l, err := acquire(ctx, name, func() {
		s.log.Debug("waiting for a lock held elsewhere", "lock", name)
	})
	switch {
	case err == nil:
		return func() {
			if err := l.Release(); err != nil {
				s.cacheProblem(err)
			}
		}, nil
	case errors.Is(err, filelock.ErrTimeout):
		return nil, fmt.Errorf("%w: another process is at it: %w", ErrWaitTimeout, err)
	}
	s.cacheProblem(err)
	return func() {}, nil
}

// unchanged reports whether the files of rq are still those of entry e,
// with the same sizes, mtimes and inodes.
func (s *Service) unchanged(lr *lazyRoot, rq request, e *infocache.Entry) bool {
	root, err := lr.open()
	if err != nil {
		return false // build reports it
	}
	paths := e.Paths
	if rq.pattern != "" {
		found, err := s.files(root, rq)
		if err != nil || !slices.Equal(found, paths) {
			return false
		}
	}
	look := root.Lookup()
	defer look.Close()
	for i, p := range paths {
		fi, err := look.Stat(p)
		if err != nil || piececache.StampOf(fi) != e.Stamps[i] {
			return false
		}
	}
	return true
}

// sources are the files a torrent is built from, found and stat'ed before
// anything is locked or written for it.
type sources struct {
	look   *docroot.Lookup // close it when done
	paths  []string
	infos  []fs.FileInfo
	single bool // a single-file torrent
}

// resolve finds the files of rq (the posted paths, or the glob's
// matches) and stats each. A request that names a file that is not there
// (404), or files that cannot make one torrent (400), fails here.
func (s *Service) resolve(lr *lazyRoot, rq request) (*sources, error) {
	root, err := lr.open()
	if err != nil {
		return nil, err
	}
	paths, err := s.files(root, rq)
	if err != nil {
		return nil, err
	}
	single := rq.single() && len(paths) == 1
	if !single {
		if err := torrent.CheckFolders(paths); err != nil {
			return nil, err
		}
	}
	src := &sources{look: root.Lookup(), paths: paths, infos: make([]fs.FileInfo, len(paths)), single: single}
	for i, p := range paths {
		if src.infos[i], err = src.look.Stat(p); err != nil {
			src.look.Close()
			return nil, err
		}
	}
	return src, nil
}

// build makes the torrent of rq from the piece digests of its files src,
// cached or computed, and stores it in the info cache. start is when the
// request began to build it, for the log.
func (s *Service) build(ctx context.Context, lr *lazyRoot, rq request, key string, src *sources, start time.Time) (*infocache.Entry, error) {
	paths, single, look := src.paths, src.single, src.look
	e := &infocache.Entry{
		Request:  rq.text,
		Settings: s.settings(lr),
		Single:   single,
		Paths:    paths,
		Stamps:   make([]piececache.Stamp, len(paths)),
	}
	files := make([]torrent.File, len(paths))
	var hashed, hits atomic.Int64
	var racy atomic.Bool
	err := s.eachFile(paths, func(i int, p string, workers int) error {
		fd, err := s.digests(ctx, look, p, src.infos[i], workers)
		if err != nil {
			return err
		}
		if fd.racy {
			racy.Store(true)
		}
		if fd.hashed {
			hashed.Add(fd.d.Size)
		} else {
			hits.Add(1)
		}
		files[i] = torrent.File{Path: p, Digests: fd.d}
		e.Stamps[i] = fd.stamp
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case s.cfg.Format == torrent.Hybrid:
		e.Info, e.PieceLayers, err = torrent.HybridInfo(files, single, s.cfg.ServiceName)
	case single:
		e.Info, err = torrent.Single(files[0])
	default:
		e.Info, err = torrent.Multi(files, s.cfg.ServiceName, s.cfg.Format)
	}
	e.Built = s.now()
	if err != nil {
		return nil, err
	}
	// A torrent with racy digests is served as it was read, not cached:
	// the next request reads the file again.
	if !racy.Load() {
		if err := s.infos.Save(e); err != nil {
			s.cacheProblem(err)
		} else if n, err := s.infoBound.Wrote(key); err != nil {
			s.cacheProblem(err)
		} else if n > 0 {
			s.log.Info("info cache over info-cache-size: removed the least recently used entries", "removed", n)
		}
	}
	s.Stats.TorrentsBuilt.Add(1)
	hash := torrent.InfoHash(e.Info)
	s.log.Info("torrent built", "key", key, "info_hash", fmt.Sprintf("%x", hash),
		"files", len(paths), "bytes_hashed", hashed.Load(), "piece_cache_hits", hits.Load(),
		"duration", time.Since(start).Round(time.Microsecond))
	return e, nil
}

// fileDigests are the piece digests of one version of a file.
type fileDigests struct {
	d     *pieces.Digests
	stamp piececache.Stamp
	// hashed reports that this request hashed the file, rather than
	// finding its digests in the piece cache or sharing another
	// request's.
	hashed bool
	// unsaved reports digests that could not be written to the piece
	// cache.
	unsaved bool
	// racy reports digests of a file version that was racy when it was
	// hashed (piececache.Stamp.Racy): served, never cached.
	racy bool
}

// digests returns the piece digests of file rel, whose stat is fi, and
// its stamp: from the piece cache when the entry matches the file's stamp,
// else by hashing the file with up to workers goroutines, once however
// many requests and processes want it.
func (s *Service) digests(ctx context.Context, look *docroot.Lookup, rel string, fi fs.FileInfo, workers int) (fileDigests, error) {
	root := look.Root()
	st := piececache.StampOf(fi)
	key := root.Dir() + "\x00" + rel
	if d, ok := s.memo.get(key, st, s.cfg.Format == torrent.Hybrid); ok {
		s.Stats.PieceCacheHits.Add(1)
		s.Stats.MemoHits.Add(1)
		s.saveLater(key, rel, st, d)
		return fileDigests{d: d, stamp: st}, nil
	}
	if fd, ok := s.loadDigests(rel, st); ok {
		s.memo.put(key, fd.stamp, fd.d, false, s.now())
		return fd, nil
	}
	fd, shared, err := s.hashes.do(ctx, key, func() (fileDigests, error) {
		unlock, err := s.lockDir(ctx, s.pieces.LockDir(rel))
		if err != nil {
			return fileDigests{}, err
		}
		defer unlock()
		return s.hash(look, rel, workers)
	})
	if shared {
		fd.hashed = false
	}
	if err == nil && !shared && !fd.racy {
		s.memo.put(key, fd.stamp, fd.d, fd.unsaved, s.now())
	}
	return fd, err
}

// saveLater writes digests d of file rel, version st, to the piece cache
// when the memo holds them as unsaved (the cache could not be written
// when they were computed: a full disk) and the last attempt is
// saveRetry old: so digests computed while the disk was full are kept once
// there is space again, and a restart need not hash those files again.
func (s *Service) saveLater(key, rel string, st piececache.Stamp, d *pieces.Digests) {
	if !s.memo.toSave(key, st, s.now()) {
		return
	}
	if err := s.pieces.Save(rel, st, d); err != nil {
		s.cacheProblem(err)
		return
	}
	s.memo.saved(key, st)
	s.marks.set(rel, s.now().UnixNano())
	s.log.Debug("digests written once the cache could be written again", "path", rel)
}

// loadDigests returns the digests of rel from the piece cache when its
// entry was made from the file version st.
func (s *Service) loadDigests(rel string, st piececache.Stamp) (fileDigests, bool) {
	// Hybrid torrents need the v2 piece layer too: an entry without it
	// is a miss.
	d, used, err := s.pieces.LoadUsed(rel, st, s.cfg.PieceLength, s.cfg.Format == torrent.Hybrid)
	if err != nil {
		if !piececache.IsMiss(err) {
			s.cacheProblem(err)
		}
		return fileDigests{}, false
	}
	// The entry's last use came with it: markUsed need not stat it again
	// while that is less than a day old.
	s.marks.set(rel, used.UnixNano())
	s.Stats.PieceCacheHits.Add(1)
	return fileDigests{d: d, stamp: st}, true
}

// hash hashes file rel and caches its digests, unless another process
// cached them while this one waited for the lock. Call it holding the
// entry's lock. A file that changes while it is hashed is hashed again
// once, then given up with ErrBusy: digests that mix two versions of a
// file are never cached or used. workers goroutines hash its pieces.
func (s *Service) hash(look *docroot.Lookup, rel string, workers int) (fileDigests, error) {
	f, fi, err := look.OpenFile(rel)
	if err != nil {
		return fileDigests{}, err
	}
	defer f.Close()
	st := piececache.StampOf(fi)
	if fd, ok := s.loadDigests(rel, st); ok {
		return fd, nil
	}
	// Hybrid torrents need the v2 piece layer too; hashing computes both
	// in one read.
	v2 := s.cfg.Format == torrent.Hybrid
	// A process that died writing this entry left its temporary file;
	// no reader opens one, and holding the lock, this one may remove it.
	if _, err := s.pieces.RemoveTemps(rel, s.cfg.PieceLength); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.cacheProblem(err)
	}
	s.log.Debug("hashing file", "path", rel, "bytes", st.Size)
	racy := false
	// workers goroutines hash pieces of the file.
	d, st, err := piececache.HashFile(f, st, piececache.HashOptions{
		PieceLength: s.cfg.PieceLength,
		V2:          v2,
		Workers:     workers,
		Wrap:        func(r io.ReaderAt) io.ReaderAt { return hashReaderAt(r, rel, st.Size) },
		Hashed: func(d *pieces.Digests) {
			s.Stats.FilesHashed.Add(1)
			s.Stats.BytesHashed.Add(d.Size)
			failpoint.Hit(failpoint.Hashed, rel)
		},
		Changed: func(old, now piececache.Stamp) {
			s.log.Info("file changed while it was hashed", "path", rel, "size", old.Size, "new_size", now.Size)
		},
		Racy: func() { racy = true },
	})
	if err != nil {
		return fileDigests{}, err
	}
	s.log.Debug("file hashed", "path", rel, "bytes", d.Size)
	if racy {
		s.log.Info("file written as it was hashed: its digests are not cached", "path", rel)
		return fileDigests{d: d, stamp: st, hashed: true, racy: true}, nil
	}
	unsaved := false
	if err := s.pieces.Save(rel, st, d); err != nil {
		s.cacheProblem(err)
		unsaved = true
	} else {
		// A new entry's access time is now: a use.
		s.marks.set(rel, s.now().UnixNano())
	}
	return fileDigests{d: d, stamp: st, hashed: true, unsaved: unsaved}, nil
}

// hashReaderAt returns r, or when failpoints are enabled, r with the
// HashHalf failpoint once half of size has been read (workers read
// concurrently, so "half" is of the bytes read, not a file offset).
func hashReaderAt(r io.ReaderAt, rel string, size int64) io.ReaderAt {
	if !failpoint.Enabled() {
		return r
	}
	return &halfway{r: r, rel: rel, half: size / 2}
}

type halfway struct {
	r    io.ReaderAt
	rel  string
	half int64
	read atomic.Int64
	once sync.Once
}

// ReadAt hits the failpoint once the bytes read reach half the size,
// before handing over the read that reached it.
func (h *halfway) ReadAt(p []byte, off int64) (int, error) {
	n, err := h.r.ReadAt(p, off)
	if h.read.Add(int64(n)) >= h.half {
		h.once.Do(func() { failpoint.Hit(failpoint.HashHalf, h.rel) })
	}
	return n, err
}

// eachFile calls fn for every path, on pieces.FilesAtOnce files at once (a
// bounded pool of goroutines): most packages are smaller than a piece, so
// one file's pieces cannot keep the cores busy.
// fn is digests, with its file lock and single flight per file, so each
// file is still hashed once however many requests and processes want it.
// fn gets the number of goroutines it may hash the file's pieces with, so
// that at most GOMAXPROCS pieces (and piece buffers) are in flight
// without the lanes (with them, the lane engine holds the buffers). Files
// are taken in request order and fn stores its result at index i, so the
// results keep that order; after an error no new file is started, and the
// error of the earliest failing file is returned, as a loop over the
// files would (every file before it was started, and is waited for). A
// panic in fn stops the pool too and is raised again in the caller's
// goroutine, where ServeHTTP turns it into a 500 as before.
func (s *Service) eachFile(paths []string, fn func(i int, p string, workers int) error) error {
	procs := runtime.GOMAXPROCS(0)
	n := min(pieces.FilesAtOnce(s.cfg.Format == torrent.Hybrid), len(paths))
	workers := max(1, procs/max(n, 1))
	errs := make([]error, len(paths))
	panics := make([]any, len(paths))
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	call := func(i int) (err error) {
		defer func() {
			if p := recover(); p != nil {
				panics[i], err = p, errPanicked
			}
		}()
		return fn(i, paths[i], workers)
	}
	for range n {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				if errs[i] = call(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if panics[i] != nil {
			panic(panics[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errPanicked marks a file whose fn panicked in eachFile.
var errPanicked = errors.New("panicked")
