package service

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
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
	// paths, or singlePrefix + the pattern.
	text string
	// paths are the clean relative paths of a digest request, in order.
	paths []string
	// pattern is the clean path or glob of a single-mode request.
	pattern string
	// key is infocache.Key(text) when the caller knows it already (a
	// digest GET), to spare hashing a long request text per request.
	key string
}

func (rq request) single() bool { return rq.paths == nil }

// files returns the request's files: the posted paths, or the glob's
// matches sorted bytewise.
func (s *Service) files(root *docroot.Root, rq request) ([]string, error) {
	if !rq.single() {
		return rq.paths, nil
	}
	lim := docroot.Limits{MaxMatches: s.cfg.MaxFiles, MaxVisits: 100 * s.cfg.MaxFiles}
	paths, err := root.Glob(rq.pattern, lim)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, clientError(http.StatusNotFound, "not found: nothing matches %q", rq.pattern)
	}
	return paths, nil
}

// openRoot opens the configured document root, or the request's.
func (s *Service) openRoot(r *http.Request) (*docroot.Root, error) {
	dir := s.cfg.Root
	if dir == "" {
		dir = s.env(r, "DOCUMENT_ROOT")
	}
	if dir == "" {
		return nil, fmt.Errorf("no document root: set root, or have the web server pass DOCUMENT_ROOT")
	}
	return docroot.Open(dir)
}

// settings describes what besides the files shapes a torrent's info; a
// cache entry made under other settings is not used.
func (s *Service) settings(root *docroot.Root) string {
	return fmt.Sprintf("format=%s piece-length=%d service-name=%s root=%s",
		s.cfg.Format, s.cfg.PieceLength, s.cfg.ServiceName, root.Dir())
}

// entry returns the torrent of rq: from the info cache when the entry was
// made under the same settings from the same files, checking the files
// again once the last check is older than the revalidate setting; else
// built anew, once however many requests ask for it at the same time.
func (s *Service) entry(root *docroot.Root, rq request) (*infocache.Entry, error) {
	key := rq.key
	if key == "" {
		key = infocache.Key(rq.text)
	}
	e, checked, err := s.loadEntry(key)
	switch {
	case err != nil:
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, infocache.ErrCorrupt) {
			s.cacheProblem(err)
		}
	case e.Settings != s.settings(root):
	case !rq.single() && !slices.Equal(e.Paths, rq.paths):
	case s.now().Sub(checked) <= s.cfg.Revalidate:
		return e, nil
	case s.unchanged(root, rq, e):
		if err := s.infos.Touch(key, s.now()); err != nil {
			s.cacheProblem(err)
		}
		s.touched(key, e)
		return e, nil
	}
	return s.builds.do(key, func() (*infocache.Entry, error) { return s.build(root, rq) })
}

// unchanged reports whether the files of rq are still those of entry e,
// with the same sizes, mtimes and inodes.
func (s *Service) unchanged(root *docroot.Root, rq request, e *infocache.Entry) bool {
	paths, err := s.files(root, rq)
	if err != nil || !slices.Equal(paths, e.Paths) {
		return false
	}
	for i, p := range paths {
		fi, err := root.Stat(p)
		if err != nil || piececache.StampOf(fi) != e.Stamps[i] {
			return false
		}
	}
	return true
}

// build makes the torrent of rq from piece digests, cached or computed,
// and stores it in the info cache.
func (s *Service) build(root *docroot.Root, rq request) (*infocache.Entry, error) {
	start := time.Now()
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
	e := &infocache.Entry{
		Request:  rq.text,
		Settings: s.settings(root),
		Single:   single,
		Paths:    paths,
		Stamps:   make([]piececache.Stamp, len(paths)),
	}
	files := make([]torrent.File, len(paths))
	var hashed, hits atomic.Int64
	err = s.eachFile(paths, func(i int, p string, workers int) error {
		d, st, hit, err := s.digests(root, p, workers)
		if err != nil {
			return err
		}
		if hit {
			hits.Add(1)
		} else {
			hashed.Add(d.Size)
		}
		files[i] = torrent.File{Path: p, Digests: d}
		e.Stamps[i] = st
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
	if err := s.infos.Save(e); err != nil {
		s.cacheProblem(err)
	}
	s.Stats.TorrentsBuilt.Add(1)
	hash := torrent.InfoHash(e.Info)
	s.log.Info("torrent built", "key", infocache.Key(rq.text), "info_hash", fmt.Sprintf("%x", hash),
		"files", len(paths), "bytes_hashed", hashed.Load(), "piece_cache_hits", hits.Load(),
		"duration", time.Since(start).Round(time.Microsecond))
	return e, nil
}

// digests returns the piece digests of file rel and its stamp: from the
// piece cache when the entry matches the file's current stamp, else by
// hashing the file (and caching the result). A file that changes while it
// is hashed is hashed again once, then given up with ErrBusy.
func (s *Service) digests(root *docroot.Root, rel string, workers int) (*pieces.Digests, piececache.Stamp, bool, error) {
	f, fi, err := root.OpenFile(rel)
	if err != nil {
		return nil, piececache.Stamp{}, false, err
	}
	defer f.Close()
	st := piececache.StampOf(fi)
	// Hybrid torrents need the v2 piece layer too: a cache entry without
	// it is a miss, and hashing computes both in one read.
	v2 := s.cfg.Format == torrent.Hybrid
	d, err := s.pieces.Load(rel, st, s.cfg.PieceLength, v2)
	if err == nil {
		s.Stats.PieceCacheHits.Add(1)
		return d, st, true, nil
	}
	if !piececache.IsMiss(err) {
		s.cacheProblem(err)
	}
	for range 2 {
		// workers goroutines hash pieces of the file; a file that shrank
		// under it fails with io.ErrUnexpectedEOF and is hashed again.
		d, herr := pieces.HashAt(f, st.Size, s.cfg.PieceLength, v2, workers)
		if herr != nil && !errors.Is(herr, io.ErrUnexpectedEOF) {
			return nil, st, false, fmt.Errorf("%s: %w", rel, herr)
		}
		fi, err := f.Stat()
		if err != nil {
			return nil, st, false, fmt.Errorf("%s: %w", rel, err)
		}
		now := piececache.StampOf(fi)
		if herr == nil {
			s.Stats.FilesHashed.Add(1)
			s.Stats.BytesHashed.Add(d.Size)
		}
		if herr == nil && now == st {
			if err := s.pieces.Save(rel, st, d); err != nil {
				s.cacheProblem(err)
			}
			return d, st, false, nil
		}
		st = now
	}
	return nil, st, false, fmt.Errorf("%w: %s", ErrBusy, rel)
}

// eachFile calls fn for every path, on as many files at once as there are
// cores: most packages are smaller than a piece, so one file's pieces
// cannot keep the cores busy. fn gets the number of goroutines it may
// hash the file's pieces with, so that at most GOMAXPROCS pieces (and
// piece buffers) are in flight. Files are taken in order; after an error
// no new file is started, and the error of the earliest failing file is
// returned, as a loop over the files would.
func (s *Service) eachFile(paths []string, fn func(i int, p string, workers int) error) error {
	procs := runtime.GOMAXPROCS(0)
	n := min(procs, len(paths))
	workers := max(1, procs/max(n, 1))
	errs := make([]error, len(paths))
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				if errs[i] = fn(i, paths[i], workers); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
