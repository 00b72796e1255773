package service

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/failpoint"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// fileDigests are the piece digests of one version of a file.
type fileDigests struct {
	d     *pieces.Digests
	stamp piececache.Stamp
	// hashed reports that this request hashed the file, rather than
	// finding its digests in the piece cache or sharing another
	// request's.
	hashed bool
	// racy reports digests of a file version that was racy when it was
	// hashed (piececache.Stamp.Racy): served, never cached.
	racy bool
}

// digests returns the piece digests of file rel, whose stat is fi, and
// its stamp: from the piece cache when the entry matches the file's stamp,
// else by hashing the file with up to workers goroutines, once however
// many requests and processes want it. The entry of a file it hashed is
// written once the request's answer is sent (writeBehind), or at once
// for a caller without one.
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
	wb := writeBehindOf(ctx)
	fd, shared, err := s.hashes.do(ctx, key, func() (fileDigests, error) {
		var unlock func()
		var err error
		if wb != nil {
			unlock, err = wb.lock(ctx, rel)
		} else {
			unlock, err = s.lockWith(ctx, rel, s.pieces.Lock)
		}
		if err != nil {
			return fileDigests{}, err
		}
		fd, err := s.hash(look, rel, workers)
		if err != nil || !fd.hashed || fd.racy {
			unlock()
			return fd, err
		}
		// In the memo before the entry is written: a write that fails
		// marks it unsaved there.
		s.memo.put(key, fd.stamp, fd.d, false, s.now())
		e := pendingEntry{key: key, rel: rel, st: fd.stamp, d: fd.d, unlock: unlock}
		if wb != nil {
			wb.keep(e)
		} else {
			s.writeEntry(e)
		}
		return fd, nil
	})
	if shared {
		fd.hashed = false
	}
	if err == nil && !shared && !fd.racy && !fd.hashed {
		s.memo.put(key, fd.stamp, fd.d, false, s.now())
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

// hash hashes file rel, unless another process cached its digests while
// this one waited for the lock (then they come from the cache, hashed
// false). Call it holding the entry's lock; the caller writes the entry. A file that changes while it is hashed is hashed again
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
	return fileDigests{d: d, stamp: st, hashed: true}, nil
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
