package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestSlowRequests: a local client that sends a request's header, or its
// body, and never the rest is not held: the agent (Serve, with its
// timeouts cut to 1 s and 2 s here) closes the connection.
func TestSlowRequests(t *testing.T) {
	old := requestTimeouts
	requestTimeouts.header, requestTimeouts.whole = time.Second, 2*time.Second
	defer func() { requestTimeouts = old }()
	cfg := settings.Default()
	cfg.Listen = freeAddr(t)
	cfg.PeerPort, cfg.PeerHost = 0, "127.0.0.1"
	cfg.Store, cfg.ReposDir = t.TempDir(), ""
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	waitFor(t, "the agent to listen", func() bool {
		c, err := net.Dial("tcp", cfg.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for _, tc := range []struct{ name, sent string }{
		{"header", "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"},
		{"body", "POST /prefetch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"packages\": ["},
	} {
		c, err := net.Dial("tcp", cfg.Listen)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		io.WriteString(c, tc.sent)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		c.Close()
		if took := time.Since(start); err != nil || took > 5*time.Second {
			t.Errorf("a request whose %s never ends: held %v (%v); want it closed after the timeout", tc.name, took.Round(time.Millisecond), err)
		}
	}
}
