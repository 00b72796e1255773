package agent

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// Handler answers dnf's requests: GET and HEAD /m/{scheme}/{host}/{path},
// POST /prefetch, GET /status and GET /metrics.
type Handler struct {
	cfg     settings.Config
	swarm   *Swarm
	mirrors *Mirrors
	origin  *http.Client
	stats   *Stats
	log     *slog.Logger
	slots   chan struct{}
	// prefetching holds a slot per prefetched torrent downloading, for
	// every prefetch at once; prefetchQueued counts the packages of
	// prefetches not started yet.
	prefetching    chan struct{}
	prefetchQueued atomic.Int64
	api            *http.ServeMux
	proxy          *httputil.ReverseProxy
	// meta is what the repos' primary.xml say of their packages.
	meta *repoMeta
}

// NewHandler makes the handler over a started swarm.
func NewHandler(cfg settings.Config, swarm *Swarm, mirrors *Mirrors, origin *http.Client, stats *Stats, log *slog.Logger) *Handler {
	h := &Handler{
		cfg: cfg, swarm: swarm, mirrors: mirrors, origin: origin, stats: stats, log: log,
		slots:       make(chan struct{}, cfg.MaxRequests),
		prefetching: make(chan struct{}, prefetchWindow),
		meta:        newRepoMeta(),
	}
	h.proxy = newPassThrough(origin, log, h.learnPrimary)
	reg := prometheus.NewRegistry()
	reg.MustRegister(sequential{newCollector(swarm), stats.firstByte, stats.total,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})})
	h.api = http.NewServeMux()
	h.api.HandleFunc("POST /prefetch", h.servePrefetch)
	h.api.HandleFunc("/prefetch", onlyMethods("POST", "only POST"))
	h.api.HandleFunc("GET /status", h.serveStatus)
	h.api.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		// Off by default: any local user may read them, and a CPU
		// profile costs while it runs.
		h.api.HandleFunc("GET /debug/pprof/", pprof.Index)
		h.api.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		h.api.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		h.api.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		h.api.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		// The engine's own counters (messages read and written by
		// type, requests served and refused, chunks received), as
		// JSON.
		h.api.Handle("GET /debug/vars", expvar.Handler())
	}
	h.api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{http.StatusNotFound, "not found: the agent answers /m/{scheme}/{host}/{path}, /prefetch, /status and /metrics"})
	})
	return h
}

// Error is an answer to the client: a status and one line.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// writeError is the one place client-visible errors become answers.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{http.StatusInternalServerError, "internal error"}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	fmt.Fprintln(w, e.Msg)
}

// onlyMethods answers 405 with allow as the Allow header and msg as the
// body.
func onlyMethods(allow, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &Error{http.StatusMethodNotAllowed, msg})
	}
}

// ServeHTTP serves /m/ (and its other lanes, /m2/ to /m9/, see
// repos.Lanes) itself: a mirror's path is passed on as dnf sent it, where
// ServeMux would redirect one with an empty or dot segment.
// The other endpoints go through a ServeMux.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := repos.AgentPath(r.URL.Path); !ok {
		h.api.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		onlyMethods("GET, HEAD", "only GET and HEAD")(w, r)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		// Busy: dnf takes the file from its next mirror at once.
		writeError(w, &Error{http.StatusServiceUnavailable, "busy: too many requests at once"})
		return
	}
	h.serveMirror(w, r)
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(h.swarm.CurrentStatus())
}

// serveMirror answers /m/{scheme}/{host}/{path}: a package through its
// torrent, anything else passed through.
func (h *Handler) serveMirror(w http.ResponseWriter, r *http.Request) {
	tg, err := parseTarget(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !h.mirrors.Allowed(tg.scheme, tg.host, tg.path) {
		writeError(w, &Error{http.StatusForbidden, "forbidden: " + tg.scheme + "://" + tg.host + " is not an allowed mirror"})
		return
	}
	torrentURL, ok := h.torrentURL(tg, r.Header.Get(TorrentHeader) == "1")
	if !ok || r.Method == http.MethodHead || r.URL.RawQuery != "" {
		h.passThrough(w, r, tg, &h.stats.passthrough)
		return
	}
	start := time.Now()
	meta, _ := h.meta.lookup(tg.url.String())
	it, err := h.swarm.open(r.Context(), torrentURL, tg.url.String(), meta.size)
	if err != nil {
		// No torrent for it (no service on this mirror, a file the
		// service refuses...): the mirror's bytes, as they are.
		h.log.Debug("no torrent; passing through", "url", tg.url.String(), "err", err)
		h.passThrough(w, r, tg, &h.stats.passthrough)
		return
	}
	defer h.swarm.release(it)
	if it.failure() != nil {
		h.passThrough(w, r, tg, &h.stats.fallback)
		return
	}
	rd := newSwarmReader(r.Context(), it, tg.url.String(), meta.sha256, mirrorFallback{
		origin: h.origin, stall: h.cfg.Stall, grace: h.cfg.OriginAfter, bytes: &h.stats.fallback, piece: h.swarm.fetchLate, log: h.log,
	})
	defer rd.Close()
	fw := &firstWrite{ResponseWriter: w}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(fw, r, "", time.Time{}, rd)
	h.stats.observe(start, fw.first)
}

// TorrentHeader, set to 1 on a request, asks for the file through its
// torrent whatever its name (an ISO image, say): `pkgtorrent-agent fetch
// -torrent` sends it.
const TorrentHeader = "Pkgtorrent-Torrent"

// torrentURL is the mirror's single/ URL for tg's file when it is a
// package, or any file when force is set: /{top}/{service-name}/single/{path}.
func (h *Handler) torrentURL(tg *target, force bool) (string, bool) {
	base := path.Base(tg.path)
	pkg := force
	for _, p := range h.cfg.Packages {
		if ok, _ := path.Match(p, base); ok {
			pkg = true
		}
	}
	// A name with glob characters would be a pattern to the service.
	if !pkg || strings.ContainsAny(tg.path, "*?[]\\") {
		return "", false
	}
	rel := strings.TrimPrefix(tg.url.EscapedPath(), "/")
	top, _, ok := strings.Cut(rel, "/")
	if !ok || top == "" {
		return "", false
	}
	return tg.scheme + "://" + tg.url.Host + "/" + top + "/" + url.PathEscape(h.cfg.ServiceName) + "/single/" + rel, true
}

// firstWrite records when the first byte of the body was written.
type firstWrite struct {
	http.ResponseWriter
	first time.Time
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if w.first.IsZero() && len(p) > 0 {
		w.first = time.Now()
	}
	return w.ResponseWriter.Write(p)
}
