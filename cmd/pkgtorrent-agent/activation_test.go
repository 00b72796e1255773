package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestSocketActivation: started as pkgtorrent-agent.socket starts it
// (the listening socket as descriptor 3, LISTEN_FDS=1, LISTEN_PID its
// own), the agent answers on that socket and binds nothing else of its
// own for HTTP. While it is stopped the address stays taken, so no other
// local user can answer dnf in its place, and a request made meanwhile is
// answered by the agent started again on the same socket.
func TestSocketActivation(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0") // systemd's socket
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	f, err := held.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// listen names another address: the passed socket wins.
	unused := e2e.Addr(t)
	store := filepath.Join(t.TempDir(), "store")
	start := func(log string) *e2e.Proc {
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=pkgtorrent-agent.socket exec "$0" "$@"`,
			agentBinary(t), "-config", confFile, "-listen", unused, "-peer-port", "0", "-peer-host", "127.0.0.1",
			"-store", store, "-repos-dir", t.TempDir())
		cmd.ExtraFiles = []*os.File{f}
		p := e2e.Start(t, "pkgtorrent-agent (socket activated)", cmd, filepath.Join(t.TempDir(), log))
		e2e.Wait(t, "the agent on the passed socket", 30*time.Second, func() error {
			b, _ := os.ReadFile(p.Log)
			if !strings.Contains(string(b), "msg=listening http="+addr) {
				return errors.New("not listening on the passed socket yet")
			}
			return nil
		}, p)
		return p
	}
	a := start("agent.log")
	if resp, body := httpDo(t, http.MethodGet, "http://"+addr+"/status"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status on the passed socket: %d %s", resp.StatusCode, body)
	}
	if c, err := net.DialTimeout("tcp", unused, time.Second); err == nil {
		c.Close()
		t.Errorf("the agent also listens on %s (its listen setting), want only the passed socket", unused)
	}
	a.StopClean(t)

	// Down: the address is still taken.
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("with the agent stopped, another process could bind %s", addr)
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding %s with the agent stopped: %v, want EADDRINUSE", addr, err)
	}
	// A request made while it is down waits in the socket's queue.
	answered := make(chan int, 1)
	go func() {
		c := &http.Client{Timeout: 60 * time.Second}
		resp, err := c.Get("http://" + addr + "/status")
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	start("agent-again.log")
	if code := <-answered; code != http.StatusOK {
		t.Errorf("a request made while the agent was down: %d, want 200 once it is back", code)
	}
}
