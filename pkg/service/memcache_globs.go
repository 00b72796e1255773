package service

import (
	"fmt"
	"runtime"
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

// walkSlots bounds the globs with a "**" segment, the ones that can read
// a whole tree, that run at once in this process: half the cores, at
// least one, so that globs with new text each time (which the negative
// cache cannot answer) leave the other cores to the other requests. A glob
// waits for a slot at most lock-timeout, then gets ErrWaitTimeout (503).
type walkSlots struct {
	once  sync.Once
	slots chan struct{}
}

func (w *walkSlots) acquire(timeout time.Duration) (release func(), err error) {
	w.once.Do(func() { w.slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)) })
	select {
	case w.slots <- struct{}{}:
		return func() { <-w.slots }, nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case w.slots <- struct{}{}:
		return func() { <-w.slots }, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %d globs with ** are being expanded", ErrWaitTimeout, cap(w.slots))
	}
}
