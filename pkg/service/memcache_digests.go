package service

import (
	"sync"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// memoBudget bounds the bytes the digest memo holds: about 150 000
// packages' digests at 1 MiB pieces.
const memoBudget = 32 << 20

// digestMemo keeps, in this process, the digests it last read from the
// piece cache or computed, per file. Building a torrent of files already
// hashed (a new combination of packages) then costs one stat per file,
// which digests does anyway, instead of opening and reading each file's
// piece cache entry. A memo entry is used only for the file version it
// was made from: the same stamp (size, mtime, inode) that makes a piece
// cache entry valid, checked against the stat of this request. It holds
// nothing the piece cache would not: the digests of that file version.
// When the budget is exceeded, entries are dropped in the map's random
// order until a quarter of it is free.
type digestMemo struct {
	mu     sync.Mutex
	size   int64
	budget int64
	m      map[string]memoEntry
}

type memoEntry struct {
	st piececache.Stamp
	d  *pieces.Digests
	// unsaved marks digests that could not be written to the piece
	// cache (a full disk, say); retry is when the next attempt may be
	// made (see Service.saveLater).
	unsaved bool
	retry   time.Time
}

// saveRetry is how long after a failed write of a file's digests the next
// request that uses them tries again.
const saveRetry = 10 * time.Second

// toSave reports whether key's digests for file version st are not in the
// piece cache yet and may be written at now, and if so counts that attempt
// (the next may come saveRetry later).
func (c *digestMemo) toSave(key string, st piececache.Stamp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.st != st || !e.unsaved || now.Before(e.retry) {
		return false
	}
	e.retry = now.Add(saveRetry)
	c.m[key] = e
	return true
}

// saved records that key's digests for file version st are in the piece
// cache.
func (c *digestMemo) saved(key string, st piececache.Stamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && e.st == st {
		e.unsaved = false
		c.m[key] = e
	}
}

func memoSize(key string, d *pieces.Digests) int64 {
	return int64(len(key)+len(d.Padded)+len(d.Layer)) + 256
}

// get returns the digests of key for file version st; with v2, only
// digests that hold the v2 piece layer.
func (c *digestMemo) get(key string, st piececache.Stamp, v2 bool) (*pieces.Digests, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.st != st || (v2 && !e.d.V2) {
		return nil, false
	}
	return e.d, true
}

// put records d as the digests of key for file version st; unsaved, when
// they could not be written to the piece cache at now.
func (c *digestMemo) put(key string, st piececache.Stamp, d *pieces.Digests, unsaved bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	budget := c.budget
	if budget == 0 {
		budget = memoBudget
	}
	n := memoSize(key, d)
	if n > budget/4 {
		return
	}
	if c.m == nil {
		c.m = make(map[string]memoEntry)
	}
	if old, ok := c.m[key]; ok {
		c.size -= memoSize(key, old.d)
	}
	c.m[key] = memoEntry{st: st, d: d, unsaved: unsaved, retry: now.Add(saveRetry)}
	c.size += n
	if c.size > budget {
		for k, e := range c.m {
			delete(c.m, k)
			c.size -= memoSize(k, e.d)
			if c.size <= budget*3/4 {
				break
			}
		}
	}
}

// maxMarks bounds the piece entries markMemo remembers; past it, it
// forgets them all, which costs one stat per entry on its next use.
const maxMarks = 1 << 20

// markMemo remembers which piece cache entries this process found marked
// used (see markUsed), or read with their last use, and when: a new
// combination of known files then skips the stat of each file's entry,
// which cachefile.MarkUsed would do only to find it marked less than a day
// ago. An entry it remembers is
// marked again once a cachefile.MarkInterval has passed since, so at most
// two intervals after its last mark, far within gc's -max-age (30 days by
// default).
type markMemo struct {
	mu sync.Mutex
	m  map[string]int64 // rel -> Unix nanoseconds
}

// recent reports whether rel's entry was found marked less than a
// cachefile.MarkInterval before now.
func (c *markMemo) recent(rel string, now int64, interval int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[rel]
	return ok && now-t < interval
}

// set records that rel's entry was marked, or found marked, at now.
func (c *markMemo) set(rel string, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxMarks {
		c.m = make(map[string]int64)
	}
	c.m[rel] = now
}
