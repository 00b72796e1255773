package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// The standalone server's defences against clients that hold connections
// (see "Hostile clients and faults" in package service): http.Server's
// header, body and idle timeouts and header limit, a write timeout renewed
// at every write (writeDeadlines), and a bound on the connections held at
// once (connLimit) that makes room for a new connection by closing the one
// that is worth least: the longest idle, else the one that has been
// sending its request the longest. So neither idle keep-alive connections
// nor slow request bodies can hold every slot, and legitimate requests
// keep being answered while the flood lasts; connections whose requests
// are being worked on are never closed for room.

// connClass is what a held connection is doing, for the choice of which
// one to close for room.
type connClass int

const (
	// reading: accepted, or its request is being read (header or body).
	reading connClass = iota
	// working: the handler has the whole request.
	working
	// idle: between requests.
	idle
)

// connLimit is a net.Listener that holds at most max connections.
type connLimit struct {
	net.Listener
	max int

	mu     sync.Mutex
	freed  *sync.Cond
	conns  map[*limitedConn]struct{}
	closed bool
	// evicted counts connections closed for room, for the log.
	evicted int64
}

func newConnLimit(l net.Listener, max int) *connLimit {
	c := &connLimit{Listener: l, max: max, conns: make(map[*limitedConn]struct{})}
	c.freed = sync.NewCond(&c.mu)
	return c
}

// limitedConn is a connection connLimit holds.
type limitedConn struct {
	net.Conn
	l     *connLimit
	class connClass // under l.mu
	since time.Time // when it entered its class, under l.mu
	// used is set once a request's first byte was read, under l.mu.
	used bool
}

// Accept accepts the next connection. When max are held, it closes the
// longest idle one, else the one longest reading its request, and when
// every one is working, waits until one closes. At most one connection
// beyond max is open meanwhile: the new one, held here; the others wait
// in the kernel's listen queue.
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.conns) >= l.max && !l.closed {
		if v := l.victim(); v != nil {
			delete(l.conns, v)
			l.evicted++
			// Closing it frees its descriptor now; the server's
			// goroutine for it fails its next read or write and
			// ends.
			v.Conn.Close()
			continue
		}
		l.freed.Wait()
	}
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	lc := &limitedConn{Conn: c, l: l, class: reading, since: time.Now()}
	l.conns[lc] = struct{}{}
	return lc, nil
}

// victim returns the held connection to close for room: the longest
// idle, else the longest reading; nil when all are working. Call it with
// l.mu held.
func (l *connLimit) victim() *limitedConn {
	var best *limitedConn
	for c := range l.conns {
		if c.class == working {
			continue
		}
		switch {
		case best == nil,
			c.class == idle && best.class != idle,
			c.class == best.class && c.since.Before(best.since):
			best = c
		}
	}
	return best
}

// Close closes the listener and wakes an Accept waiting for room.
func (l *connLimit) Close() error {
	l.mu.Lock()
	l.closed = true
	l.freed.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// closeUnused closes the connections that never sent a byte of a
// request (a client's spare keep-alive connection, say). http.Server's
// Shutdown waits up to 5 s for those as if they were busy; with nothing
// asked on them, there is nothing to finish. Run on Shutdown, after the
// listener closed.
func (l *connLimit) closeUnused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if !c.used {
			c.Conn.Close()
		}
	}
}

// set moves c to class.
func (l *connLimit) set(c *limitedConn, class connClass) {
	l.mu.Lock()
	c.class, c.since = class, time.Now()
	l.mu.Unlock()
}

// remove forgets c and lets a waiting Accept go on.
func (l *connLimit) remove(c *limitedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.freed.Broadcast()
	l.mu.Unlock()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.l.remove(c)
	return err
}

// connState is the http.Server's ConnState hook: it tells connLimit what
// each connection does.
func (l *connLimit) connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateActive:
		// The header has been read; the body, if any, is next.
		l.set(c, reading)
		l.mu.Lock()
		c.used = true
		l.mu.Unlock()
	case http.StateIdle:
		// A write deadline left from the last answer must not cut
		// the server's own answers to the next request short.
		c.SetWriteDeadline(time.Time{})
		l.set(c, idle)
	case http.StateHijacked, http.StateClosed:
		l.remove(c)
	}
}

type connKey struct{}

// connContext is the http.Server's ConnContext hook: it puts the
// connection in the request's context, for working.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// working marks a request's connection as working once its body is read
// (at once for a request without a body), so that connLimit does not close
// it for room.
func (l *connLimit) working(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(connKey{}).(*limitedConn)
		if ok {
			if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
				l.set(c, working)
			} else {
				r.Body = &bodyEnd{ReadCloser: r.Body, end: func() { l.set(c, working) }}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// bodyEnd calls end once the body has been read to its end.
type bodyEnd struct {
	io.ReadCloser
	end  func()
	done bool
}

func (b *bodyEnd) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.end()
	}
	return n, err
}

// writeChunk is the most one write to the client carries under one
// write deadline.
const writeChunk = 64 << 10

// writeDeadlines gives every write of an answer timeout to complete: the
// deadline is renewed before each write of at most writeChunk bytes, so
// that a client that stops reading is dropped, while a long download to
// one that keeps reading, and a request that takes long to compute
// (hashing a large file), are not cut short. h must be given the server's
// own ResponseWriter.
func writeDeadlines(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}
		h.ServeHTTP(dw, r)
		// What the server still has to send once the handler returns.
		dw.renew()
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) renew() { w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

func (w *deadlineWriter) WriteHeader(code int) {
	w.renew()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		w.renew()
		m, err := w.ResponseWriter.Write(b[:min(len(b), writeChunk)])
		n += m
		b = b[m:]
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// raiseFileLimit raises the soft limit on open descriptors to the hard
// limit, as servers do (the Go runtime does too, since Go 1.19; doing it
// here keeps it whatever the runtime does), and returns the limit.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// descriptorReserve is the descriptors kept for everything but
// connections: the listener, the cache, the files being hashed.
const descriptorReserve = 64

// fitConnections returns max-connections lowered, when it must be, so
// that the connections take at most half of the descriptors the process
// may open (limit) beyond a reserve: the other half is for the work of
// their requests (folders, files, cache entries, each bounded per
// request).
func fitConnections(n int, limit uint64, log *slog.Logger) int {
	if limit == 0 || limit > 1<<31 {
		return n
	}
	fit := max(1, (int(limit)-descriptorReserve)/2)
	if n > fit {
		log.Warn("max-connections lowered to fit the descriptor limit", "max_connections", n, "lowered_to", fit, "descriptor_limit", limit)
		return fit
	}
	return n
}
