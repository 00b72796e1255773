package service

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// entryCacheBudget bounds the bytes the entry cache holds (infos and bodies).
const entryCacheBudget = 64 << 20

// maxAnswers bounds the bodies kept per entry: one per base URL and
// trackers list, and a mirror has few of those.
const maxAnswers = 8

// entryCache keeps, in this process, the info cache entries it loaded and
// the .torrent bodies made from them. A repeated request then costs one
// stat of the entry's file instead of reading, checking and decoding it
// and encoding the torrent again. The file stays the truth: an entry is
// used only while its file has the size, mtime and inode it had when it
// was read, so another process's Save or Touch is seen at once and the
// revalidate semantics are those of the file. The same stat gives the
// file's access time, the entry's last recorded use (see markUsed), so
// use marks are still written at most once a day whoever wrote the last.
// Under FastCGI the process
// serves many requests; a CGI process starts empty and gains nothing.
type entryCache struct {
	mu      sync.Mutex
	size    int64
	byKey   map[string]*memEntry
	byEntry map[*infocache.Entry]*memEntry
}

// memEntry is one loaded info cache entry.
type memEntry struct {
	key   string
	stamp piececache.Stamp // of the entry's file
	e     *infocache.Entry
	// paths are the clean paths of a digest entry's request text, and
	// pathsErr why they are not (nil paths for a single-mode entry).
	paths    []string
	pathsErr error
	// used is the last use its file records (cachefile.LastUsed), in
	// Unix nanoseconds, as of the latest stat: e.Used is only that of
	// the read, and e is shared, so it is not updated.
	used atomic.Int64

	// hashes are the info hashes of e, computed by the first request
	// that needs them (see infoHashes).
	hashOnce sync.Once
	hashes   infoHashes

	mu      sync.Mutex
	answers []*answer
}

// infoHashes are the info hashes of an entry: v1, and v2 for a hybrid
// torrent (else zero).
type infoHashes struct {
	v1 [sha1.Size]byte
	v2 [sha256.Size]byte
}

// infoHashes returns the info hashes of e, whose memEntry is me (nil
// when e is not in memory), with v2 for a hybrid torrent: computed once
// per memEntry, as the info of a few thousand files is some hundred
// kilobytes to hash.
func (me *memEntry) infoHashes(e *infocache.Entry, hybrid bool) infoHashes {
	compute := func() infoHashes {
		h := infoHashes{v1: torrent.InfoHash(e.Info)}
		if hybrid {
			h.v2 = torrent.InfoHashV2(e.Info)
		}
		return h
	}
	if me == nil {
		return compute()
	}
	me.hashOnce.Do(func() { me.hashes = compute() })
	return me.hashes
}

// answer is a finished .torrent response.
type answer struct {
	base        string
	trackers    []string
	lastMod     time.Time
	body        []byte
	etag        string
	disposition string
}

// loadEntry returns entry key of the info cache and when its files were
// last checked, from memory when its file is unchanged since it was read.
func (s *Service) loadEntry(key string) (*infocache.Entry, time.Time, error) {
	fi, err := s.infos.Stat(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	if me := s.entries.get(key, piececache.StampOf(fi)); me != nil {
		me.setUsed(cachefile.LastUsed(fi))
		return me.e, fi.ModTime(), nil
	}
	e, fi, err := s.infos.LoadStat(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	s.entries.put(newMemEntry(key, piececache.StampOf(fi), e))
	return e, fi.ModTime(), nil
}

// touched records that entry key's file was touched by this process, so
// that its new mtime does not make the entry be read again. The last use
// stays the one from before the Touch (which moves the access time too),
// as for an entry read from disk, so that markUsed still marks the piece
// entries of a torrent revalidated after a day; the next request's stat
// sees the new access time.
func (s *Service) touched(key string, e *infocache.Entry) {
	fi, err := s.infos.Stat(key)
	if err != nil {
		return
	}
	s.entries.mu.Lock()
	defer s.entries.mu.Unlock()
	if me := s.entries.byKey[key]; me != nil && me.e == e {
		me.stamp = piececache.StampOf(fi)
	}
}

// lastUsed returns when entry e was last used as far as this process
// knows: what the latest stat of its file said when e is in memory, else
// what e was read with.
func (s *Service) lastUsed(e *infocache.Entry) time.Time {
	if me := s.entries.of(e); me != nil {
		return time.Unix(0, me.used.Load())
	}
	return e.Used
}

func (me *memEntry) setUsed(t time.Time) { me.used.Store(t.UnixNano()) }

func newMemEntry(key string, st piececache.Stamp, e *infocache.Entry) *memEntry {
	me := &memEntry{key: key, stamp: st, e: e}
	me.setUsed(e.Used)
	if !strings.HasPrefix(e.Request, singlePrefix) {
		me.paths = make([]string, 0, len(e.Paths))
		for p := range strings.SplitSeq(e.Request, "\n") {
			rel, err := docroot.Clean(p)
			if err != nil {
				me.paths, me.pathsErr = nil, err
				break
			}
			if i := len(me.paths); i < len(e.Paths) && e.Paths[i] == rel {
				rel = e.Paths[i] // shared, so that comparing them is quick
			}
			me.paths = append(me.paths, rel)
		}
	} else {
		me.pathsErr = errors.New("a single-mode entry")
	}
	return me
}

func (me *memEntry) cost() int64 {
	n := int64(len(me.e.Info) + len(me.e.PieceLayers) + len(me.e.Request))
	for _, p := range me.e.Paths {
		n += int64(len(p)) + 64
	}
	return n
}

// get returns the entry of key when it was read from a file with stamp st.
func (c *entryCache) get(key string, st piececache.Stamp) *memEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if me := c.byKey[key]; me != nil && me.stamp == st {
		return me
	}
	return nil
}

// of returns the memEntry of e, or nil when e was not loaded through
// the cache (it was just built, say).
func (c *entryCache) of(e *infocache.Entry) *memEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byEntry[e]
}

func (c *entryCache) put(me *memEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = make(map[string]*memEntry)
		c.byEntry = make(map[*infocache.Entry]*memEntry)
	}
	if old := c.byKey[me.key]; old != nil {
		c.dropLocked(old)
	}
	c.byKey[me.key] = me
	c.byEntry[me.e] = me
	c.size += me.cost()
	c.shrinkLocked()
}

func (c *entryCache) dropLocked(me *memEntry) {
	delete(c.byKey, me.key)
	delete(c.byEntry, me.e)
	c.size -= me.cost()
	me.mu.Lock()
	for _, a := range me.answers {
		c.size -= int64(len(a.body))
	}
	me.answers = nil
	me.mu.Unlock()
}

// shrinkLocked drops entries, in no particular order, until the cache
// fits its budget.
func (c *entryCache) shrinkLocked() {
	for _, me := range c.byKey {
		if c.size <= entryCacheBudget {
			return
		}
		c.dropLocked(me)
	}
}

// answer returns the body made for base URL, trackers and lastMod, if any.
func (me *memEntry) answer(base string, trackers []string, lastMod time.Time) *answer {
	if me == nil {
		return nil
	}
	me.mu.Lock()
	defer me.mu.Unlock()
	for _, a := range me.answers {
		if a.base == base && a.lastMod.Equal(lastMod) && slices.Equal(a.trackers, trackers) {
			return a
		}
	}
	return nil
}

// addAnswer keeps a for later requests, replacing the oldest beyond
// maxAnswers.
func (c *entryCache) addAnswer(me *memEntry, a *answer) {
	if me == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[me.key] != me {
		return // dropped meanwhile
	}
	me.mu.Lock()
	if len(me.answers) >= maxAnswers {
		c.size -= int64(len(me.answers[0].body))
		me.answers = me.answers[1:]
	}
	me.answers = append(me.answers, a)
	me.mu.Unlock()
	c.size += int64(len(a.body))
	c.shrinkLocked()
}
