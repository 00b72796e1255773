// Command pkgtorrent-service hands out .torrent files for the files a
// package mirror's web server already serves, with that web server as the
// web seed. One binary runs every way a mirror runs it:
//
//   - FastCGI on standard input, as Apache mod_fcgid starts it (no flags);
//   - FastCGI on a socket handed over by systemd (LISTEN_FDS);
//   - FastCGI on -fcgi host:port or -fcgi unix:/path (nginx fastcgi_pass);
//   - CGI, when GATEWAY_INTERFACE is set;
//   - a standalone HTTP server with -http ADDR, serving the files under
//     -root as well as the service under /{top}/{service-name}/.
//
// Settings come from flags and, with -config FILE, from a file of
// "key = value" lines; flags win. Run with -h for the list.
//
// A first argument that names a subcommand runs the operator's tools
// instead (see commands.go): warm, gc, inspect and version. warm and gc
// take the same settings as the service, so that they work on the very
// caches it uses.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/fcgi"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/activation"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// serviceCommand is the service's own -h text.
var serviceCommand = settings.Command{
	Usage: "pkgtorrent-service [-config FILE] [-setting value ...]\n       pkgtorrent-service warm|gc|inspect|version [-h] ...",
	Doc: `Without a subcommand, serves torrents: FastCGI on standard input (mod_fcgid), on a
systemd socket or on -fcgi ADDR; CGI when GATEWAY_INTERFACE is set; standalone HTTP
with -http ADDR. SIGTERM or SIGINT stops the -http and -fcgi servers gracefully.

Subcommands (each takes -h):
  warm PATTERN...  hash the matching files under -root ahead of time
  gc               remove unused cache entries and those of gone files
  inspect TORRENT  print what a .torrent file or URL holds; -verify ROOT checks it
  version          print the version of this build`,
}

// run starts the service, or runs the subcommand that args start with,
// and returns the exit status. Start-up errors are one line on stderr.
func run(args []string, stdout *os.File, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return runSubcommand(args[0], args[1:], stdout, stderr)
	}
	cfg, _, err := config.LoadCommand(serviceCommand, args, stderr)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return 2
	}
	if err := setHashPath(cfg); err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	if limit, err := raiseFileLimit(); err != nil {
		log.Warn("cannot raise the descriptor limit", "err", err)
	} else {
		log.Debug("descriptor limit", "limit", limit)
		// A quarter of the descriptors for the folders requests hold
		// open; connections take at most half (fitConnections).
		docroot.LimitOpenDirs(int(min(limit, 1<<20) / 4))
	}
	if err := serve(cfg, log); err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return 1
	}
	return 0
}

// setHashPath applies the hash-path setting: a path named there replaces
// the one the calibration would choose.
func setHashPath(cfg config.Config) error {
	if cfg.HashPath == "auto" {
		return nil
	}
	p, err := pieces.ParsePath(cfg.HashPath)
	if err == nil {
		err = pieces.SetPath(p)
	}
	if err != nil {
		return fmt.Errorf("hash-path: %w", err)
	}
	return nil
}

// level returns the slog level of the log-level setting, which Validate
// checked; anything else is info.
func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// newLogger returns the logger for stderr at the log-level setting, and
// makes it the default.
func newLogger(cfg config.Config, stderr io.Writer) *slog.Logger {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))
	slog.SetDefault(log)
	return log
}

func serve(cfg config.Config, log *slog.Logger) error {
	if cfg.HTTP != "" || os.Getenv("GATEWAY_INTERFACE") == "" {
		// A server (not a CGI process, which lives for one request)
		// calibrates its hashing path now rather than on the first
		// request that hashes, and says what it chose.
		go func() {
			c := pieces.Chosen()
			log.Info("hashing path chosen", "path", c.Path.String(), "why", c.String(), "cpu", version.CPU())
		}()
	}
	switch {
	case cfg.HTTP != "":
		svc := service.New(cfg, service.Options{Log: log})
		return serveHTTP(cfg, svc, log)
	case cfg.FCGI != "":
		l, err := listen(cfg.FCGI)
		if err != nil {
			return err
		}
		log.Info("serving FastCGI", "addr", cfg.FCGI)
		return serveFCGI(l, cfg, log)
	case os.Getenv("LISTEN_FDS") != "":
		l, err := systemdListener()
		if err != nil {
			return err
		}
		log.Info("serving FastCGI on the socket systemd passed")
		return serveFCGI(l, cfg, log)
	case os.Getenv("GATEWAY_INTERFACE") != "":
		svc := service.New(cfg, service.Options{Log: log, Env: func(_ *http.Request, k string) string { return os.Getenv(k) }})
		// The piece cache entries are written after the answer: the
		// process waits for them before it exits.
		defer svc.Wait()
		if err := cgi.Serve(svc); err != nil {
			return fmt.Errorf("cgi: %w", err)
		}
		return nil
	default:
		// mod_fcgid (and spawn-fcgi) start the program with a listening
		// socket on standard input, and stop it with SIGTERM.
		l, err := net.FileListener(os.Stdin)
		if err != nil {
			return fmt.Errorf("standard input is not a FastCGI socket (%w): run it under a web server, or give -http ADDR or -fcgi ADDR; -h lists the settings", err)
		}
		return serveFCGI(l, cfg, log)
	}
}

func fcgiEnv(r *http.Request, key string) string { return fcgi.ProcessEnv(r)[key] }

// serveFCGI serves FastCGI on l until SIGTERM or SIGINT.
func serveFCGI(l net.Listener, cfg config.Config, log *slog.Logger) error {
	svc := service.New(cfg, service.Options{Log: log, Env: fcgiEnv})
	defer svc.Wait()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	err := fcgi.Serve(l, svc)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("fastcgi: %w", err)
}

// listen opens host:port, or unix:/path (replacing a stale socket file).
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("fcgi: stale socket: %w", err)
			}
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("fcgi: %w", err)
		}
		// The service serves public data only; let the web server's user
		// connect whatever its group.
		if err := os.Chmod(path, 0o666); err != nil {
			l.Close()
			return nil, fmt.Errorf("fcgi: %w", err)
		}
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fcgi: %w", err)
	}
	return l, nil
}

// systemdListener returns the first socket passed by systemd socket
// activation (the unit passes one).
func systemdListener() (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, err
	}
	for _, l := range ls[1:] {
		l.Close()
	}
	return ls[0], nil
}

// serveHTTP runs the standalone server: the service under
// /{top}/{service-name}/, every other path a file under the root. It
// routes with service.ParseRoute, not an http.ServeMux: a pattern
// "/{top}/{service-name}/" would redirect /{top}/{service-name} and every
// path with ".." or "//" to its cleaned form, where the service answers
// them itself, as it does under FastCGI (see Service.ServeHTTP).
func serveHTTP(cfg config.Config, svc *service.Service, log *slog.Logger) error {
	root, err := docroot.Open(cfg.Root)
	if err != nil {
		return err
	}
	defer root.Close()
	files := http.FileServerFS(root.FS())
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := service.ParseRoute(r.URL.Path, cfg.ServiceName); ok {
			svc.ServeHTTP(w, r)
			return
		}
		service.BoundRange(r)
		files.ServeHTTP(w, r)
	})
	tl, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	limit, err := raiseFileLimit()
	if err != nil {
		log.Warn("descriptor limit not raised; max-connections is not fitted to it", "err", err)
	}
	l := newConnLimit(tl, fitConnections(cfg.MaxConnections, limit, log))
	srv := &http.Server{
		Handler:           writeDeadlines(l.working(accessLog(mux, log)), cfg.WriteTimeout),
		ReadHeaderTimeout: cfg.HeaderTimeout,
		ReadTimeout:       cfg.BodyTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         l.connState,
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(l.closeUnused)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Serve returns as soon as Shutdown begins: the answers still being
	// written get their 5 seconds only if the process waits for it.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			log.Warn("graceful shutdown cut short", "err", err)
		}
	}()
	log.Info("serving HTTP", "addr", l.Addr().String(), "root", cfg.Root, "max_connections", l.max)
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	<-stopped
	svc.Wait()
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// accessLog logs one line per request of the standalone server.
func accessLog(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		log.Info("http", "method", r.Method, "path", r.URL.Path, "range", r.Header.Get("Range"),
			"status", sw.status, "bytes", sw.bytes, "duration", time.Since(start).Round(time.Microsecond))
	})
}
