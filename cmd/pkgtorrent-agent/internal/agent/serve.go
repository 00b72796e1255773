package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// Serve runs the agent of cfg until ctx ends: the swarm on the store and
// the HTTP endpoint on cfg.Listen. It returns an error when it could not
// start or the endpoint failed, nil when ctx ended.
func Serve(ctx context.Context, cfg settings.Config, log *slog.Logger) error {
	origin, err := originClient(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
		log.Warn("listening beyond loopback: any host that reaches this address can make the agent fetch from the allowed mirrors", "listen", cfg.Listen)
	}
	stats := NewStats()
	swarm, err := NewSwarm(cfg, origin, stats, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer swarm.Close()
	srv := &http.Server{
		Handler:           NewHandler(cfg, swarm, NewMirrors(cfg, log), origin, stats, log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
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
