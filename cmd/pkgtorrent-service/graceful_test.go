package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulStop: SIGTERM during a download of the standalone server
// lets the download finish (within the 5 s the server gives answers in
// flight), and the process then exits 0.
func TestGracefulStop(t *testing.T) {
	root := t.TempDir()
	want := make([]byte, 64<<20)
	rand.Read(want)
	if err := os.MkdirAll(filepath.Join(root, "yum"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "yum", "big.iso"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "service", serviceBinary(t), nil, "-root", root, "-cache", t.TempDir(), "-trackers", filepath.Join(t.TempDir(), "trackers"))
	resp, err := http.Get(s.url + "/yum/big.iso")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// The rest of the answer is still to be written when the signal comes.
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Read the rest slowly (about 0.6 s in all, within the server's 5 s),
	// so that the answer is still being written when the process would
	// exit.
	got := first
	buf := make([]byte, 1<<20)
	for {
		n, rerr := io.ReadFull(resp.Body, buf)
		got = append(got, buf[:n]...)
		if rerr != nil {
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				rerr = nil
			}
			err = rerr
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("download across SIGTERM: %d of %d bytes (%v), want all of them", len(got), len(want), err)
	}
	if err := s.Wait(); err != nil {
		t.Errorf("the server's exit after SIGTERM: %v, want status 0", err)
	}
}

// TestStopWithSpareConnection: a client's spare connection, open but
// never used for a request (an HTTP client's keep-alive pool makes them),
// does not hold the stop: SIGTERM ends the process at once, without
// "graceful shutdown cut short". Before, Shutdown waited the whole 5 s
// for it as if an answer were in flight.
func TestStopWithSpareConnection(t *testing.T) {
	s := startServer(t, "service", serviceBinary(t), nil, "-root", t.TempDir(), "-cache", t.TempDir(), "-trackers", filepath.Join(t.TempDir(), "trackers"))
	c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(200 * time.Millisecond) // accepted by now
	start := time.Now()
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Errorf("the server's exit after SIGTERM: %v, want status 0", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the server took %v to stop with an unused connection open, want well under its 5 s for answers in flight", took.Round(time.Millisecond))
	}
	if bad := grep(s.log(), "level=WARN", "level=ERROR"); bad != "" {
		t.Errorf("the server logged:\n%s", bad)
	}
}
