package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
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
	return &lazyRoot{dir: dir, writes: writeBehindOf(r.Context())}, nil
}

// lazyRoot is a request's document root, opened (docroot.Open: symlinks
// resolved, an os.Root opened) when first needed. A request answered from
// an info cache entry checked less than revalidate ago needs only its
// name, for the entry's settings. Call close when done.
type lazyRoot struct {
	dir  string
	root *docroot.Root
	// writes holds the piece cache entries the request computes until
	// its answer is sent; nil: written at once.
	writes *writeBehind
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
	text := infocache.Settings(string(s.cfg.Format), s.cfg.PieceLength, s.cfg.Private, s.cfg.ServiceName, root.dir)
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
	if root.writes != nil {
		ctx = context.WithValue(ctx, writeBehindKey{}, root.writes)
	}
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
