package service

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// flight runs one function per key at a time within this process: callers
// that arrive while it runs wait for it and share its result, so a burst
// of requests for the same new torrent, or for torrents that share files,
// does the work once. (Other processes are kept out by file locks; see
// Service.lock.)
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// do runs fn under key, or waits for the run already under way and
// returns its result with shared set. A waiter gives up when ctx ends,
// with ErrWaitTimeout; the run goes on for whoever else waits.
func (f *flight[T]) do(ctx context.Context, key string, fn func() (T, error)) (val T, shared bool, err error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*call[T])
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.val, true, c.err
		case <-ctx.Done():
			return val, true, fmt.Errorf("%w: another request of this process is at it: %w", ErrWaitTimeout, ctx.Err())
		}
	}
	c := &call[T]{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.err = fmt.Errorf("panic: %v", p)
			}
		}()
		c.val, c.err = fn()
	}()
	return c.val, false, c.err
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
