package service

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/accesslist"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/trackers"
)

// MaxBodySize bounds a POST body.
const MaxBodySize = 4 << 20

// Stats count the work the service did since it started.
type Stats struct {
	// FilesHashed and BytesHashed count files read and hashed.
	FilesHashed, BytesHashed atomic.Int64
	// PieceCacheHits counts files whose digests came from the piece cache
	// or from its copy in memory (see digestMemo); MemoHits counts the
	// latter.
	PieceCacheHits, MemoHits atomic.Int64
	// TorrentsBuilt counts info dictionaries built (not served from cache).
	TorrentsBuilt atomic.Int64
	// UseMarks counts cache entries whose last use was written (see
	// markUsed): at most one per entry a day.
	UseMarks atomic.Int64
	// Walks counts globs expanded (not answered from the negative cache).
	Walks atomic.Int64
}

// Service answers torrent requests. Create it with New.
type Service struct {
	cfg      config.Config
	log      *slog.Logger
	pieces   piececache.Store
	infos    infocache.Store
	trackers *trackers.List
	env      func(r *http.Request, key string) string
	now      func() time.Time
	nodes    []torrent.Node
	started  time.Time
	builds   flight[checkedEntry]
	hashes   flight[fileDigests]
	entries  entryCache
	memo     digestMemo
	marks    markMemo
	cacheLog rateLimited
	// whitelist is the tracker's whitelist, nil without the
	// tracker-whitelist setting; whitelistLog limits its warnings.
	whitelist    *accesslist.List
	whitelistLog rateLimited
	negative     negativeCache
	deepWalks    walkSlots
	// lastSettings is the settings text of the last document root.
	lastSettings atomic.Pointer[rootSettings]

	// infoBound keeps the info cache within the info-cache-size setting.
	infoBound *infocache.Bound
	// globs maps the glob patterns of single mode to the entry of their
	// matches (see singleEntry).
	globs globAliases

	// writes are the flushes of answered requests' writeBehind (Wait).
	writes writesUnderWay

	// Stats are the service's counters, read by tests and benchmarks.
	Stats Stats
}

// Options are the parts of a Service that depend on how it is run.
type Options struct {
	// Log receives the service's log; nil means slog.Default().
	Log *slog.Logger
	// Env returns a CGI/FastCGI variable of the request (DOCUMENT_ROOT,
	// SERVER_PORT, ...); nil means none are available.
	Env func(r *http.Request, key string) string
	// TrackersInterval overrides how often the trackers file is checked
	// (trackers.DefaultInterval when zero).
	TrackersInterval time.Duration
	// Now is the service's clock; nil means time.Now. Tests move it on
	// to see what a long-running process does days later.
	Now func() time.Time
}

// New returns a Service for a validated configuration.
func New(cfg config.Config, opt Options) *Service {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	env := opt.Env
	if env == nil {
		env = func(*http.Request, string) string { return "" }
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	nodes := make([]torrent.Node, 0, len(cfg.DHTNodes))
	for _, n := range cfg.DHTNodes {
		if nd, err := config.ParseNode(n); err == nil { // Validate checked them
			nodes = append(nodes, nd)
		}
	}
	s := &Service{
		cfg:      cfg,
		nodes:    nodes,
		started:  time.Now(),
		log:      log,
		pieces:   piececache.Store{Dir: cfg.PiecesDir()},
		infos:    infocache.Store{Dir: cfg.InfoDir()},
		trackers: trackers.New(cfg.Trackers, opt.TrackersInterval, cfg.MaxTrackers, log),
		env:      env,
		now:      now,
	}
	s.infoBound = &infocache.Bound{Dir: cfg.InfoDir(), Limit: cfg.InfoCacheSize}
	if cfg.TrackerWhitelist != "" {
		s.whitelist = accesslist.New(cfg.TrackerWhitelist, WhitelistMax)
	}
	return s
}

// Route is a parsed service URL: /{Top}/{service}/{Mode}/{Arg}.
type Route struct {
	Top, Mode, Arg string
}

// ParseRoute splits a decoded URL path into its parts, and reports false
// when the path is not under /{top}/{service}/.
func ParseRoute(urlPath, service string) (Route, bool) {
	rest, ok := strings.CutPrefix(urlPath, "/")
	if !ok {
		return Route{}, false
	}
	top, rest, ok := strings.Cut(rest, "/")
	if !ok || top == "" {
		return Route{}, false
	}
	name, rest, _ := strings.Cut(rest, "/")
	if name != service {
		return Route{}, false
	}
	mode, arg, _ := strings.Cut(rest, "/")
	return Route{Top: top, Mode: mode, Arg: arg}, true
}

// ServeHTTP answers one request. It never lets a panic escape: under
// FastCGI and CGI nothing else would catch it.
//
// It routes by hand rather than through an http.ServeMux with patterns
// (GET /{top}/{service}/single/{arg...} and the like): a ServeMux answers
// a path holding "..", "." or "//" with a redirect to its cleaned form,
// which would take a request under /{top}/{service}/ out of it, where
// the service answers such a path itself (403 outside the document root,
// the same through every front end); and its own 404 and 405 answers
// carry none of the service's one-line messages (Error). The 405 below
// gives the Allow header a ServeMux would.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Deferred first, so it runs last: once the answer is written.
	r, writeLater := s.withWriteBehind(r)
	defer writeLater()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.writeError(w, r, fmt.Errorf("panic: %v", p))
		}
	}()
	rt, ok := ParseRoute(r.URL.Path, s.cfg.ServiceName)
	if !ok {
		s.writeError(w, r, clientError(http.StatusNotFound, "not found: %q is not under /{top}/%s/", r.URL.Path, s.cfg.ServiceName))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if rt.Mode == "digest" {
			break
		}
		fallthrough
	default:
		allow := "GET, HEAD"
		if rt.Mode == "digest" {
			allow = "GET, HEAD, POST"
		}
		w.Header().Set("Allow", allow)
		s.writeError(w, r, clientError(http.StatusMethodNotAllowed, "method %s not allowed here (allowed: %s)", r.Method, allow))
		return
	}
	var err error
	switch rt.Mode {
	case "digest":
		err = s.serveDigest(w, r, rt)
	case "single", "simple":
		err = s.serveSingle(w, r, rt, false)
	case "magnet":
		err = s.serveSingle(w, r, rt, true)
	case "nullfile":
		err = s.serveNullfile(w, r, rt.Arg)
	default:
		err = clientError(http.StatusNotFound, "not found: unknown mode %q (want digest, single, simple, magnet or nullfile)", rt.Mode)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// rateLimited lets a message through at most once a minute.
type rateLimited struct {
	last atomic.Int64
}

func (l *rateLimited) allow(now time.Time) bool {
	prev := l.last.Load()
	if now.UnixNano()-prev < int64(time.Minute) {
		return false
	}
	return l.last.CompareAndSwap(prev, now.UnixNano())
}

// cacheProblem logs a cache that cannot be read or written, once a minute:
// the torrent is still served, computed without the cache.
func (s *Service) cacheProblem(err error) {
	if s.cacheLog.allow(s.now()) {
		s.log.Warn("cache unusable, serving without it (logged once a minute)", "err", err)
	}
}
