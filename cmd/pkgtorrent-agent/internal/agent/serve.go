package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/activation"
)

// requestTimeouts bound how long a request's header, and the whole
// request with its body, may take to arrive.
var requestTimeouts = struct{ header, whole time.Duration }{10 * time.Second, 30 * time.Second}

// Serve runs the agent of cfg until ctx ends: the swarm on the store and
// the HTTP endpoint on the sockets systemd passed (socket activation), or
// else on cfg.Listen. It returns an error when it could not start or the
// endpoint failed, nil when ctx ended.
func Serve(ctx context.Context, cfg settings.Config, log *slog.Logger) error {
	mirrors := NewMirrors(cfg, log)
	origin, err := originClient(cfg, mirrors, log)
	if err != nil {
		return err
	}
	lns, err := listeners(cfg)
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, ln := range lns {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			log.Warn("listening beyond loopback: any host that reaches this address can make the agent fetch from the allowed mirrors", "listen", ln.Addr().String())
		}
	}
	stats := NewStats()
	swarm, err := NewSwarm(cfg, origin, stats, log)
	if err != nil {
		closeAll()
		return err
	}
	defer swarm.Close()
	swarm.needsCert = mirrors.NeedsCert
	srv := &http.Server{
		Handler:           NewHandler(cfg, swarm, mirrors, origin, stats, log),
		ReadHeaderTimeout: requestTimeouts.header,
		// A request whose body never comes (a prefetch) is not held
		// open: the whole request must arrive within this.
		ReadTimeout:    requestTimeouts.whole,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, len(lns))
	var addrs []string
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
		addrs = append(addrs, ln.Addr().String())
	}
	log.Info("listening", "http", strings.Join(addrs, " "), "peer-port", swarm.PeerPort(), "store", cfg.Store,
		"mirror-proxy", mirrors.ProxyNote())
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

// listeners returns the sockets systemd passed, when it passed any: a
// socket unit holds the agent's address while the agent is down (stopped,
// restarting, upgraded), so that no other local user can bind it and
// answer dnf in its place. Without systemd, the agent binds cfg.Listen
// itself.
func listeners(cfg settings.Config) ([]net.Listener, error) {
	passed, err := activation.Listeners()
	if errors.Is(err, activation.ErrNotActivated) {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		return []net.Listener{ln}, nil
	}
	if err != nil {
		return nil, err
	}
	lns := make([]net.Listener, len(passed))
	for i, l := range passed {
		lns[i] = l
	}
	return lns, nil
}

// originClient is the HTTP client for mirrors: bounded waits, the
// system's CAs plus ca-file for https, and, when mirrors is not nil, the
// proxy it gives for each request (Mirrors.Proxy), never the
// environment's, and the TLS options of the repo that names the mirror
// (Mirrors.TLS: client certificate, key, CAs; see certTransports).
func originClient(cfg settings.Config, mirrors *Mirrors, log *slog.Logger) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if mirrors != nil {
		tr.Proxy = mirrors.Proxy
	}
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
	var rt http.RoundTripper = tr
	if mirrors != nil {
		rt = newCertTransports(tr, mirrors, log)
	}
	return &http.Client{
		Transport: rt,
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
