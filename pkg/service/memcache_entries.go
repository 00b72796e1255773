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

// warmBudget bounds the bytes the warm cache holds (infos and bodies).
const warmBudget = 64 << 20

// maxAnswers bounds the bodies kept per entry: one per base URL and
// trackers list, and a mirror has few of those.
const maxAnswers = 8

// warmCache keeps, in this process, the info cache entries it loaded and
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
type warmCache struct {
	mu      sync.Mutex
	size    int64
	byKey   map[string]*warmEntry
	byEntry map[*infocache.Entry]*warmEntry
}

// warmEntry is one loaded info cache entry.
type warmEntry struct {
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

// infoHashes returns the info hashes of e, whose warm entry is we (nil
// when e is not in memory), with v2 for a hybrid torrent: computed once
// per warm entry, as the info of a few thousand files is some hundred
// kilobytes to hash.
func (we *warmEntry) infoHashes(e *infocache.Entry, hybrid bool) infoHashes {
	compute := func() infoHashes {
		h := infoHashes{v1: torrent.InfoHash(e.Info)}
		if hybrid {
			h.v2 = torrent.InfoHashV2(e.Info)
		}
		return h
	}
	if we == nil {
		return compute()
	}
	we.hashOnce.Do(func() { we.hashes = compute() })
	return we.hashes
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
	if we := s.warm.get(key, piececache.StampOf(fi)); we != nil {
		we.setUsed(cachefile.LastUsed(fi))
		return we.e, fi.ModTime(), nil
	}
	e, fi, err := s.infos.LoadStat(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	s.warm.put(newWarmEntry(key, piececache.StampOf(fi), e))
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
	s.warm.mu.Lock()
	defer s.warm.mu.Unlock()
	if we := s.warm.byKey[key]; we != nil && we.e == e {
		we.stamp = piececache.StampOf(fi)
	}
}

// lastUsed returns when entry e was last used as far as this process
// knows: what the latest stat of its file said when e is in memory, else
// what e was read with.
func (s *Service) lastUsed(e *infocache.Entry) time.Time {
	if we := s.warm.of(e); we != nil {
		return time.Unix(0, we.used.Load())
	}
	return e.Used
}

func (we *warmEntry) setUsed(t time.Time) { we.used.Store(t.UnixNano()) }

func newWarmEntry(key string, st piececache.Stamp, e *infocache.Entry) *warmEntry {
	we := &warmEntry{key: key, stamp: st, e: e}
	we.setUsed(e.Used)
	if !strings.HasPrefix(e.Request, singlePrefix) {
		we.paths = make([]string, 0, len(e.Paths))
		for p := range strings.SplitSeq(e.Request, "\n") {
			rel, err := docroot.Clean(p)
			if err != nil {
				we.paths, we.pathsErr = nil, err
				break
			}
			if i := len(we.paths); i < len(e.Paths) && e.Paths[i] == rel {
				rel = e.Paths[i] // shared, so that comparing them is quick
			}
			we.paths = append(we.paths, rel)
		}
	} else {
		we.pathsErr = errors.New("a single-mode entry")
	}
	return we
}

func (we *warmEntry) cost() int64 {
	n := int64(len(we.e.Info) + len(we.e.PieceLayers) + len(we.e.Request))
	for _, p := range we.e.Paths {
		n += int64(len(p)) + 64
	}
	return n
}

// get returns the entry of key when it was read from a file with stamp st.
func (c *warmCache) get(key string, st piececache.Stamp) *warmEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if we := c.byKey[key]; we != nil && we.stamp == st {
		return we
	}
	return nil
}

// of returns the warm entry of e, or nil when e was not loaded through
// the cache (it was just built, say).
func (c *warmCache) of(e *infocache.Entry) *warmEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byEntry[e]
}

func (c *warmCache) put(we *warmEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = make(map[string]*warmEntry)
		c.byEntry = make(map[*infocache.Entry]*warmEntry)
	}
	if old := c.byKey[we.key]; old != nil {
		c.dropLocked(old)
	}
	c.byKey[we.key] = we
	c.byEntry[we.e] = we
	c.size += we.cost()
	c.shrinkLocked()
}

func (c *warmCache) dropLocked(we *warmEntry) {
	delete(c.byKey, we.key)
	delete(c.byEntry, we.e)
	c.size -= we.cost()
	we.mu.Lock()
	for _, a := range we.answers {
		c.size -= int64(len(a.body))
	}
	we.answers = nil
	we.mu.Unlock()
}

// shrinkLocked drops entries, in no particular order, until the cache
// fits its budget.
func (c *warmCache) shrinkLocked() {
	for _, we := range c.byKey {
		if c.size <= warmBudget {
			return
		}
		c.dropLocked(we)
	}
}

// answer returns the body made for base URL, trackers and lastMod, if any.
func (we *warmEntry) answer(base string, trackers []string, lastMod time.Time) *answer {
	if we == nil {
		return nil
	}
	we.mu.Lock()
	defer we.mu.Unlock()
	for _, a := range we.answers {
		if a.base == base && a.lastMod.Equal(lastMod) && slices.Equal(a.trackers, trackers) {
			return a
		}
	}
	return nil
}

// addAnswer keeps a for later requests, replacing the oldest beyond
// maxAnswers.
func (c *warmCache) addAnswer(we *warmEntry, a *answer) {
	if we == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[we.key] != we {
		return // dropped meanwhile
	}
	we.mu.Lock()
	if len(we.answers) >= maxAnswers {
		c.size -= int64(len(we.answers[0].body))
		we.answers = we.answers[1:]
	}
	we.answers = append(we.answers, a)
	we.mu.Unlock()
	c.size += int64(len(a.body))
	c.shrinkLocked()
}
