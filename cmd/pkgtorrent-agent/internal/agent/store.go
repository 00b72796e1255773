package agent

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// The store is a folder of two: torrents/{infohash}.torrent, whose mtime
// is the torrent's last use, and data/{infohash}/{name}, the file.

func dataDir(store string) string     { return filepath.Join(store, "data") }
func torrentsDir(store string) string { return filepath.Join(store, "torrents") }

func (s *Swarm) torrentFile(ih metainfo.Hash) string {
	return filepath.Join(torrentsDir(s.cfg.Store), ih.HexString()+".torrent")
}

// restore adds the torrents of the store: into the client those still
// in their seeding time, and the stored-seeds most recently used of the
// others (tidy's stored torrents), their pieces hashed before anything of
// them is served or uploaded; the rest stay out of the client, and are
// hashed when asked for again.
func (s *Swarm) restore() {
	ents, err := os.ReadDir(torrentsDir(s.cfg.Store))
	if err != nil {
		s.log.Warn("reading the store", "err", err)
		return
	}
	type entry struct {
		name    string
		mi      *metainfo.MetaInfo
		used    time.Time
		private bool
	}
	var found []entry
	for _, e := range ents {
		name := filepath.Join(torrentsDir(s.cfg.Store), e.Name())
		if filepath.Ext(e.Name()) != ".torrent" {
			continue
		}
		mi, err := metainfo.LoadFromFile(name)
		if err == nil {
			var fi os.FileInfo
			if fi, err = e.Info(); err == nil {
				found = append(found, entry{name, mi, fi.ModTime(), fileExists(privateMark(name))})
				continue
			}
		}
		s.log.Warn("dropping a store entry", "file", name, "err", err)
		s.remove(name)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].used.After(found[j].used) })
	now := time.Now()
	stored := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range found {
		it, err := s.newItem(e.mi, "", e.used, e.private)
		if err == nil && (now.Before(it.seedUntil) || stored < s.cfg.StoredSeeds) {
			if !now.Before(it.seedUntil) {
				stored++
			}
			err = s.readdLocked(it, e.mi)
		}
		if err != nil {
			s.log.Warn("dropping a store entry", "file", e.name, "err", err)
			s.remove(e.name)
			continue
		}
		s.items[it.ih] = it
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// remove deletes a torrent file of the store and the data of its info
// hash.
func (s *Swarm) remove(torrentFile string) {
	ih := filepath.Base(torrentFile)
	ih = ih[:len(ih)-len(filepath.Ext(ih))]
	if err := os.Remove(torrentFile); err != nil {
		s.storeProblem(err)
	}
	// Its private mark after the torrent: never a torrent without it.
	if err := os.Remove(privateMark(torrentFile)); err != nil {
		s.storeProblem(err)
	}
	if len(ih) == 40 {
		if _, err := hex.DecodeString(ih); err == nil {
			if err := os.RemoveAll(filepath.Join(dataDir(s.cfg.Store), ih)); err != nil {
				s.storeProblem(err)
			}
		}
	}
}

// privateMark is the file beside a torrent file of the store that marks
// its torrent private (see item.private): a restart keeps it so.
func privateMark(torrentFile string) string {
	return strings.TrimSuffix(torrentFile, ".torrent") + ".private"
}

// markPrivate writes the private mark of the torrent ih.
func (s *Swarm) markPrivate(ih metainfo.Hash) error {
	return os.WriteFile(privateMark(s.torrentFile(ih)), nil, 0o644)
}

// save writes the torrent into the store (a temporary file, then a
// rename), so that a restart seeds it again; a private torrent's mark
// first, so that no restart finds it without.
func (s *Swarm) save(mi *metainfo.MetaInfo, private bool) error {
	name := s.torrentFile(mi.HashInfoBytes())
	if private {
		if err := s.markPrivate(mi.HashInfoBytes()); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(torrentsDir(s.cfg.Store), ".tmp-*")
	if err != nil {
		return err
	}
	err = mi.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		if rerr := os.Remove(f.Name()); rerr != nil {
			s.storeProblem(rerr)
		}
	}
	return err
}

// touch marks the torrent file's mtime as the last use, for eviction
// after a restart, and starts its seeding time again.
func (s *Swarm) touch(it *item) {
	now := time.Now()
	if err := os.Chtimes(s.torrentFile(it.ih), now, now); err != nil {
		s.storeProblem(err)
	}
	it.seedUntil = now.Add(s.seedTime(it.ih))
}

// storeProblem logs a store file that could not be removed or touched,
// once a minute: the agent goes on, and a stale file is at worst seeded
// or evicted late. A file that is not there is no problem: its removal
// is done, and a torrent file that could not be saved was logged then.
func (s *Swarm) storeProblem(err error) {
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	s.storeLog.Do(func() {
		s.log.Warn("store: a file could not be changed (logged once a minute)", "err", err)
	})
}
