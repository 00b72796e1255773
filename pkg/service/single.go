package service

import (
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
)

// singleEntry returns the torrent of a single-mode path or glob. The info
// cache entry is named by the files, not by the pattern's text: a path
// names its own entry, and a glob is expanded and names the entry of its
// matches, so that every pattern that matches the same files (*.rpm,
// *[m], *[mxyz]...) shares one entry, and a client inventing patterns
// cannot make the service store a new torrent for each. Which entry a glob
// led to is kept in memory (globAliases) for revalidate, as long as the
// entry's own check is: a repeated glob costs one stat, and is expanded
// again once that time has passed.
func (s *Service) singleEntry(lr *lazyRoot, pattern string) (*infocache.Entry, time.Time, error) {
	if !docroot.IsGlob(pattern) {
		return s.entry(lr, request{text: singlePrefix + pattern, pattern: pattern, isSingle: true})
	}
	if key, ok := s.globs.get(pattern, s.now(), s.cfg.Revalidate); ok {
		if c, ok := s.cached(lr, request{isSingle: true}, key); ok {
			s.infoBound.Served(key, s.now())
			return c.e, c.checked, nil
		}
	}
	root, err := lr.open()
	if err != nil {
		return nil, time.Time{}, err
	}
	// files expands the glob once, within its bounds (max-walk-time, the
	// negative cache, the slots of "**" globs); entry is given the
	// matches, not the pattern, so that it does not expand it again.
	paths, err := s.files(root, request{pattern: pattern, isSingle: true})
	if err != nil {
		return nil, time.Time{}, err
	}
	text := singlePrefix + strings.Join(paths, "\n")
	key := infocache.Key(text)
	s.globs.put(pattern, key, s.now())
	return s.entry(lr, request{text: text, paths: paths, key: key, isSingle: true})
}
