package service

import (
	"sync"
	"time"
)

// Expensive globs that fail.
const (
	// negativeTTL is how long a glob that failed after an expensive walk
	// keeps failing without a new walk: short, so that files a sync
	// adds are found soon.
	negativeTTL = 10 * time.Second
	// expensiveWalk is the folder entries a glob must have read for its
	// failure to be remembered: a cheap one is cheaper to walk again
	// than to remember.
	expensiveWalk = 10000
	// maxNegative bounds the failures remembered; past it, they are all
	// forgotten.
	maxNegative = 4096
)

// negativeCache remembers, for negativeTTL, the globs whose walk read
// more than expensiveWalk entries and failed (nothing matched, or a
// limit was hit), so that clients repeating one cost a map lookup, not
// another walk of a large tree.
type negativeCache struct {
	mu sync.Mutex
	m  map[string]negativeEntry
}

type negativeEntry struct {
	err   error
	until time.Time
}

// get returns the failure remembered for key at now, if any.
func (c *negativeCache) get(key string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil
	}
	if !now.Before(e.until) {
		delete(c.m, key)
		return nil
	}
	return e.err
}

// put remembers err for key until now + negativeTTL.
func (c *negativeCache) put(key string, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxNegative {
		c.m = make(map[string]negativeEntry)
	}
	c.m[key] = negativeEntry{err: err, until: now.Add(negativeTTL)}
}

// maxGlobAliases bounds the patterns globAliases remembers.
const maxGlobAliases = 4096

// globAliases maps glob patterns to the info cache entry of their
// matches, as found at a time.
type globAliases struct {
	mu sync.Mutex
	m  map[string]globAlias
}

type globAlias struct {
	key string
	at  time.Time
}

// get returns the entry key pattern led to, when that is at most maxAge
// old.
func (g *globAliases) get(pattern string, now time.Time, maxAge time.Duration) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.m[pattern]
	if !ok || now.Sub(a.at) > maxAge || now.Before(a.at) {
		return "", false
	}
	return a.key, true
}

// put records that pattern led to entry key at now. Past maxGlobAliases
// patterns, it forgets them all: a pattern forgotten is expanded again.
func (g *globAliases) put(pattern, key string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil || len(g.m) >= maxGlobAliases {
		g.m = make(map[string]globAlias)
	}
	g.m[pattern] = globAlias{key, now}
}
