package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var ports struct {
	sync.Mutex
	used map[int]bool
}

// Port returns a free TCP port on 127.0.0.1 (also free for UDP), never
// the same twice in one test process.
func Port(t testing.TB) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.used == nil {
		ports.used = make(map[int]bool)
	}
	// Below the kernel's ephemeral range (32768-60999 here), which it
	// hands to any process's sockets at any time: a port picked there
	// (as a listener on port 0 would) can be taken by another test's
	// client before the server that needs it binds it.
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if ports.used[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		ports.used[port] = true
		return port
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// Addr returns 127.0.0.1:port with a port of Port.
func Addr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(Port(t)))
}

// Node is where a server of a test runs: this machine's loopback (the
// zero Node), or a network namespace, where its servers listen on the
// namespace's address and the ports are counted from 20001 on (only the
// test's processes live there).
type Node struct {
	Netns string        // network namespace; "" for the test's own
	IP    string        // the address its servers listen on; "" for 127.0.0.1
	Next  *atomic.Int32 // the namespace's last port, less 20000
}

// Addr returns the address the node's servers listen on.
func (n Node) Addr() string {
	if n.IP == "" {
		return "127.0.0.1"
	}
	return n.IP
}

// Command returns the command that runs name with args on the node;
// ctx may be nil.
func (n Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if n.Netns != "" {
		args = append([]string{"netns", "exec", n.Netns, name}, args...)
		name = "ip"
	}
	if ctx == nil {
		return exec.Command(name, args...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// Port returns a TCP and UDP port free on the node.
func (n Node) Port(t testing.TB) int {
	t.Helper()
	if n.Netns == "" {
		return Port(t)
	}
	return 20000 + int(n.Next.Add(1))
}

// URL returns scheme://addr:port.
func (n Node) URL(scheme string, port int) string {
	return scheme + "://" + net.JoinHostPort(n.Addr(), strconv.Itoa(port))
}

// DialContext connects to addr from inside the node's namespace, where
// the test's own namespace may have no route (a server on the
// namespace's loopback).
func (n Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if n.Netns == "" {
		return d.DialContext(ctx, network, addr)
	}
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The socket is made by this goroutine's thread, in the
		// namespace it enters; the thread goes back to its own before
		// other goroutines may run on it. It must not end instead: a
		// process started from it (exec.Cmd with Pdeathsig, as Start's
		// are) would be signalled.
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer own.Close()
		ns, err := os.Open("/run/netns/" + n.Netns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("namespace %s: %w", n.Netns, err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("enter namespace %s: %w", n.Netns, err)}
			return
		}
		c, err := d.DialContext(ctx, network, addr)
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stuck in the namespace: the thread ends with the goroutine.
			panic(fmt.Sprintf("leave namespace %s: %v", n.Netns, err))
		}
		runtime.UnlockOSThread()
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// Client is an HTTP client that connects from inside the node's
// namespace (see DialContext), directly, with a timeout for each
// request.
func (n Node) Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: n.DialContext, Proxy: nil, DisableKeepAlives: true}}
}
