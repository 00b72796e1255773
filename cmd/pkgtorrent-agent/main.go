package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

const usage = "pkgtorrent-agent [-config FILE] [-setting value ...]"

func main() {
	if err := agent.ExecWithFileIO(); err != nil {
		fmt.Fprintln(os.Stderr, "pkgtorrent-agent: running with pread/pwrite file I/O:", err)
		os.Exit(1)
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fetch" {
		return runFetch(args[1:], os.Stdout, stderr)
	}
	cfg, rest, err := settings.Load(usage, args, stderr)
	if errors.Is(err, settings.ErrHelp) {
		return 0
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q", rest[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-agent:", err)
		return 2
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(cfg, log); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	return 0
}

func serve(cfg settings.Config, log *slog.Logger) error {
	origin, err := originClient(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if ap, err := netipAddr(ln.Addr()); err == nil && !ap.IsLoopback() {
		log.Warn("listening beyond loopback: any host that reaches this address can make the agent fetch from the allowed mirrors", "listen", cfg.Listen)
	}
	stats := agent.NewStats()
	swarm, err := agent.NewSwarm(cfg, origin, stats, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer swarm.Close()
	h := agent.NewHandler(cfg, swarm, agent.NewMirrors(cfg, log), origin, stats, log)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "http", ln.Addr().String(), "peer-port", swarm.PeerPort(), "store", cfg.Store)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// originClient is the HTTP client for mirrors: bounded waits, and the
// system's CAs plus ca-file for https.
func originClient(cfg settings.Config) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.ResponseHeaderTimeout = 15 * time.Second
	tr.MaxIdleConnsPerHost = 16
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca-file: %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		// A redirect is followed only where requests are allowed anyway:
		// the same scheme and host.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || req.URL.Scheme != via[0].URL.Scheme || req.URL.Host != via[0].URL.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}, nil
}

func netipAddr(a net.Addr) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(a.String())
	return ap.Addr(), err
}
