package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Conns bounds the peer connections open at once: in total and per remote
// address, the ones peers open (counted from accept, so handshakes too)
// and the ones the agent dials. The engine has bounds per torrent only,
// and none on connections before their handshake.
type Conns struct {
	total, perAddr int

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int

	refused atomic.Int64
}

// NewConns bounds connections to total at once, perAddr of them with one
// address.
func NewConns(total, perAddr int) *Conns {
	return &Conns{total: total, perAddr: perAddr, byAddr: map[netip.Addr]int{}}
}

// Open returns the number of connections open now.
func (c *Conns) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Refused returns the number of connections refused so far.
func (c *Conns) Refused() int64 { return c.refused.Load() }

var errTooMany = errors.New("too many peer connections")

// take counts a connection with a; false (and nothing counted) when a
// bound is reached.
func (c *Conns) take(a netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= c.total || c.byAddr[a] >= c.perAddr {
		c.refused.Add(1)
		return false
	}
	c.open++
	c.byAddr[a]++
	return true
}

func (c *Conns) release(a netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.byAddr[a]--; c.byAddr[a] <= 0 {
		delete(c.byAddr, a)
	}
}

// wrap counts nc until it is closed, or closes it when a bound is reached.
func (c *Conns) wrap(nc net.Conn, remote net.Addr) (net.Conn, error) {
	a := addrOf(remote)
	if !c.take(a) {
		nc.Close()
		return nil, fmt.Errorf("%v: %w", remote, errTooMany)
	}
	return &countedConn{Conn: nc, release: sync.OnceFunc(func() { c.release(a) })}, nil
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// listener is the peer port: connections past the bounds are closed as
// soon as they are accepted, before the engine reads anything from them.
type listener struct {
	net.Listener
	conns *Conns
}

func (l listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c, err := l.conns.wrap(nc, nc.RemoteAddr()); err == nil {
			return c, nil
		}
	}
}

// dialer dials peers within the bounds; a dial past them fails at once.
type dialer struct {
	net.Dialer
	conns *Conns
}

func (d *dialer) DialerNetwork() string { return "tcp" }

func (d *dialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	a := ap.Addr().Unmap()
	if !d.conns.take(a) {
		return nil, fmt.Errorf("dial %s: %w", addr, errTooMany)
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		d.conns.release(a)
		return nil, err
	}
	return &countedConn{Conn: nc, release: sync.OnceFunc(func() { d.conns.release(a) })}, nil
}
