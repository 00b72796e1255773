package service

import (
	"errors"
	"io/fs"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
)

// markUsed records that the torrent of e is being served: it sets the
// access time of its info cache entry and of its files' piece cache
// entries, so that gc keeps them (see package cachefile for why atime).
// It does so at most once a cachefile.MarkInterval: e.Used tells when the
// info entry was last marked, and its piece entries are marked along with
// it, each only when its own mark is older. A request served from an entry
// marked less than a day ago costs nothing more; for an entry served from
// memory, its last mark is what the stat that validated it said (see
// entryCache); piece entries this process marked or wrote less than a day
// ago are skipped without a stat (see markMemo). The modification times,
// which record an info entry's last check, are left alone.
func (s *Service) markUsed(e *infocache.Entry) {
	now := s.now()
	if now.Sub(s.lastUsed(e)) < cachefile.MarkInterval {
		return
	}
	mark := func(wrote bool, err error) bool {
		if wrote {
			s.Stats.UseMarks.Add(1)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.cacheProblem(err)
			return false
		}
		return true
	}
	if !mark(s.infos.MarkUsed(infocache.Key(e.Request), now)) {
		return
	}
	interval := int64(cachefile.MarkInterval)
	for _, p := range e.Paths {
		if s.marks.recent(p, now.UnixNano(), interval) {
			continue
		}
		if !mark(s.pieces.MarkUsed(p, s.cfg.PieceLength, now)) {
			return
		}
		s.marks.set(p, now.UnixNano())
	}
}
