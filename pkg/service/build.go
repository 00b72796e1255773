package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

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

// lock takes the file lock name, waiting for another process that holds
// it until ctx ends (then ErrWaitTimeout). When the lock file cannot be
// used at all (the cache folder is read-only, say), the work goes on
// without it, and the log says so once a minute. The returned function
// releases the lock.
func (s *Service) lock(ctx context.Context, name string) (unlock func(), err error) {
	return s.lockWith(ctx, name, filelock.Acquire)
}

// lockWith is lock with acquire taking the lock called name (a lock
// file, or for the piece cache a source file's path).
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
	single := rq.isSingle && len(paths) == 1
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
	if s.cfg.Private {
		e.Info = torrent.MarkPrivate(e.Info)
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
// goroutine, where ServeHTTP turns it into a 500.
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
