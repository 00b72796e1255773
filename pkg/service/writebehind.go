package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// writeBehind holds the piece cache entries one request computed until
// its answer is sent, and then writes them (flush): a cold digest answers
// after its hashing, not after thousands of file creations as well. On
// ext4 without a journal, creating an inode right after many were deleted
// costs a scan of the recently freed ones, which made a cold digest of
// 2000 packages up to twice as slow when it wrote its entries before
// answering.
//
// Each entry's lock (piececache.Store.Lock: one byte of pieces.lock,
// through one descriptor for the request) stays held until the entry is
// written, so another process that wants the same file waits for the
// entry rather than hashing the file again. Holding a lock while waiting
// for another could deadlock two requests whose files overlap, so a
// request never does both: when one of its goroutines has to wait for a
// lock held elsewhere, it first writes and releases every entry the
// request holds, and the entries it computes while any of its goroutines
// waits are written at once. A process that dies before writing loses
// only those entries (the kernel releases the locks): the files are
// hashed again next time.
type writeBehind struct {
	s *Service

	mu      sync.Mutex
	ranges  *filelock.Ranges // opened by the first lock; nil when it cannot be
	tried   bool             // opening ranges was tried
	pending []pendingEntry
	// waiting counts the request's goroutines waiting for a lock held
	// elsewhere.
	waiting int
}

// pendingEntry is a piece cache entry to write, and the lock to release
// once it is written.
type pendingEntry struct {
	key, rel string
	st       piececache.Stamp
	d        *pieces.Digests
	unlock   func()
}

type writeBehindKey struct{}

// withWriteBehind returns r with a writeBehind in its context, and the
// function that flushes it in the background once the answer is sent.
func (s *Service) withWriteBehind(r *http.Request) (*http.Request, func()) {
	wb := &writeBehind{s: s}
	r = r.WithContext(context.WithValue(r.Context(), writeBehindKey{}, wb))
	return r, func() {
		wb.mu.Lock()
		idle := len(wb.pending) == 0 && wb.ranges == nil
		wb.mu.Unlock()
		if idle {
			return
		}
		s.writes.Go(wb.flush)
	}
}

func writeBehindOf(ctx context.Context) *writeBehind {
	wb, _ := ctx.Value(writeBehindKey{}).(*writeBehind)
	return wb
}

// Wait waits for the piece cache entries of answered requests to be
// written. Call it before the process exits.
func (s *Service) Wait() { s.writes.Wait() }

// writesUnderWay counts the flushes under way. Unlike a sync.WaitGroup,
// it may start one while Wait waits (a request answered as the server
// stops).
type writesUnderWay struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while nobody waits
}

// Go runs f in a goroutine of its own, counted until it returns.
func (w *writesUnderWay) Go(f func()) {
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
	go func() {
		defer func() {
			w.mu.Lock()
			if w.n--; w.n == 0 && w.idle != nil {
				close(w.idle)
				w.idle = nil
			}
			w.mu.Unlock()
		}()
		f()
	}()
}

// Wait returns once no function started by Go runs.
func (w *writesUnderWay) Wait() {
	w.mu.Lock()
	if w.n == 0 {
		w.mu.Unlock()
		return
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	idle := w.idle
	w.mu.Unlock()
	<-idle
}

// lock takes the lock of rel's piece entries through the request's lock
// descriptor, as Service.lockWith does (ErrWaitTimeout; without a usable
// lock file, no lock).
func (wb *writeBehind) lock(ctx context.Context, rel string) (unlock func(), err error) {
	wb.mu.Lock()
	if !wb.tried {
		wb.tried = true
		r, err := wb.s.pieces.Locks()
		if err != nil {
			wb.s.cacheProblem(err)
		}
		wb.ranges = r
	}
	r := wb.ranges
	wb.mu.Unlock()
	if r == nil {
		return func() {}, nil
	}
	waited := false
	l, err := piececache.LockIn(ctx, r, rel, func() {
		wb.s.log.Debug("waiting for a lock held elsewhere", "lock", rel)
		waited = true
		wb.startWait()
	})
	if waited {
		wb.mu.Lock()
		wb.waiting--
		wb.mu.Unlock()
	}
	switch {
	case err == nil:
		return func() {
			if err := l.Release(); err != nil {
				wb.s.cacheProblem(err)
			}
		}, nil
	case errors.Is(err, filelock.ErrTimeout):
		return nil, fmt.Errorf("%w: another process is at it: %w", ErrWaitTimeout, err)
	}
	wb.s.cacheProblem(err)
	return func() {}, nil
}

// keep holds e to write once the answer is sent, or writes it now while a
// goroutine of the request waits for a lock.
func (wb *writeBehind) keep(e pendingEntry) {
	wb.mu.Lock()
	if wb.waiting == 0 {
		wb.pending = append(wb.pending, e)
		wb.mu.Unlock()
		return
	}
	wb.mu.Unlock()
	wb.s.writeEntry(e)
}

// startWait marks a goroutine of the request as waiting for a lock and
// writes (releasing their locks) the entries the request holds.
func (wb *writeBehind) startWait() {
	wb.mu.Lock()
	wb.waiting++
	held := wb.pending
	wb.pending = nil
	wb.mu.Unlock()
	for _, e := range held {
		wb.s.writeEntry(e)
	}
}

// flush writes the request's entries and closes its lock descriptor.
func (wb *writeBehind) flush() {
	wb.mu.Lock()
	held, r := wb.pending, wb.ranges
	wb.pending, wb.ranges = nil, nil
	wb.mu.Unlock()
	for _, e := range held {
		wb.s.writeEntry(e)
	}
	if r != nil {
		if err := r.Close(); err != nil {
			wb.s.cacheProblem(err)
		}
	}
}

// writeEntry writes e to the piece cache and releases its lock. Digests
// that cannot be written (a full disk) stay in the memo marked unsaved,
// for saveLater.
func (s *Service) writeEntry(e pendingEntry) {
	defer e.unlock()
	if err := s.pieces.Save(e.rel, e.st, e.d); err != nil {
		s.cacheProblem(err)
		s.memo.put(e.key, e.st, e.d, true, s.now())
		return
	}
	// A new entry's access time is now: a use.
	s.marks.set(e.rel, s.now().UnixNano())
}
