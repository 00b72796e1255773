package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// Handler answers dnf's requests: GET and HEAD /m/{scheme}/{host}/{path},
// GET /status and GET /metrics.
type Handler struct {
	cfg     settings.Config
	swarm   *Swarm
	mirrors *Mirrors
	origin  *http.Client
	stats   *Stats
	log     *slog.Logger
	slots   chan struct{}
	metrics http.Handler
	proxy   *httputil.ReverseProxy
}

// NewHandler makes the handler over a started swarm.
func NewHandler(cfg settings.Config, swarm *Swarm, mirrors *Mirrors, origin *http.Client, stats *Stats, log *slog.Logger) *Handler {
	h := &Handler{
		cfg: cfg, swarm: swarm, mirrors: mirrors, origin: origin, stats: stats, log: log,
		slots: make(chan struct{}, cfg.MaxRequests),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(swarm), stats.firstByte, stats.total,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*target)
			pr.Out.URL = target.url
			pr.Out.Host = ""
		},
		Transport: origin.Transport,
		ModifyResponse: func(resp *http.Response) error {
			target := resp.Request.Context().Value(targetKey{}).(*target)
			resp.Body = &countingBody{ReadCloser: resp.Body, n: target.count}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.log.Info("mirror unreachable", "url", r.URL.String(), "err", err)
			writeError(w, &Error{http.StatusBadGateway, "mirror unreachable"})
		},
	}
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

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/m/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, &Error{http.StatusMethodNotAllowed, "only GET and HEAD"})
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
	case r.URL.Path == "/prefetch":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, &Error{http.StatusMethodNotAllowed, "only POST"})
			return
		}
		h.servePrefetch(w, r)
	case r.URL.Path == "/status" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(h.swarm.Status())
	case r.URL.Path == "/metrics" && r.Method == http.MethodGet:
		h.metrics.ServeHTTP(w, r)
	default:
		writeError(w, &Error{http.StatusNotFound, "not found: the agent answers /m/{scheme}/{host}/{path}, /prefetch, /status and /metrics"})
	}
}

// target is a request's file at its mirror.
type target struct {
	scheme, host string
	// path is unescaped; url keeps the request's escaping.
	path  string
	url   *url.URL
	count *int64Counter
}

type targetKey struct{}

// parseTarget reads /m/{scheme}/{host[:port]}/{path}, keeping the path's
// percent-encoding as dnf sent it.
func parseTarget(r *http.Request) (*target, error) {
	return parseTargetPath(r.URL.EscapedPath(), r.URL.RawQuery)
}

func parseTargetPath(escapedPath, rawQuery string) (*target, error) {
	rest := strings.TrimPrefix(escapedPath, "/m/")
	scheme, rest, _ := strings.Cut(rest, "/")
	host, rest, ok := strings.Cut(rest, "/")
	if scheme != "http" && scheme != "https" {
		return nil, &Error{http.StatusBadRequest, "bad request: want /m/http/... or /m/https/..."}
	}
	if !ok || host == "" || strings.ContainsAny(host, "@%\\") {
		return nil, &Error{http.StatusBadRequest, "bad request: want /m/{scheme}/{host[:port]}/{path}"}
	}
	u, err := url.Parse(scheme + "://" + host + "/" + rest)
	if err != nil || u.Host != host || u.User != nil {
		return nil, &Error{http.StatusBadRequest, "bad request: not a URL: " + strconv.Quote(scheme+"://"+host+"/"+rest)}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, &Error{http.StatusBadRequest, "bad request: dot segment in path"}
		}
	}
	if strings.ContainsFunc(u.Path, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, &Error{http.StatusBadRequest, "bad request: control character in path"}
	}
	u.RawQuery = rawQuery
	return &target{scheme: scheme, host: settings.CanonicalHost(scheme, host), path: u.Path, url: u}, nil
}

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
	it, err := h.swarm.Open(r.Context(), torrentURL, tg.url.String())
	if err != nil {
		// No torrent for it (no service on this mirror, a file the
		// service refuses...): the mirror's bytes, as they are.
		h.log.Debug("no torrent; passing through", "url", tg.url.String(), "err", err)
		h.passThrough(w, r, tg, &h.stats.passthrough)
		return
	}
	defer h.swarm.Release(it)
	if err := h.swarm.failure(it); err != nil {
		h.passThrough(w, r, tg, &h.stats.fallback)
		return
	}
	rd := &swarmReader{ctx: r.Context(), h: h, it: it, t: it.t.NewReader(), url: tg.url.String()}
	if sum := h.swarm.expected(it); sum != nil {
		rd.want, rd.sum = sum, sha256.New()
	}
	defer rd.Close()
	rd.t.SetReadahead(4 << 20)
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

// passThrough answers with the mirror's own answer, headers and all
// (ranges and conditional requests included), counting its bytes in n.
func (h *Handler) passThrough(w http.ResponseWriter, r *http.Request, tg *target, n *int64Counter) {
	tg.count = n
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, tg)))
}

type int64Counter = atomic.Int64

type countingBody struct {
	io.ReadCloser
	n *int64Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
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

// swarmReader reads the file through the torrent: only bytes of pieces
// that verified. When the torrent makes no progress for stall (no piece
// verifies, from peers or the mirror), when its next piece has not come
// for 4 x stall, or when the store fails, it streams the rest straight
// from the mirror (the torrent goes on in the swarm), so that a request
// is never much slower than the mirror.
//
// Progress of the torrent, not of the request's own next piece: hosts
// that start a file together fetch different pieces from the mirror
// (see fill), so the first piece may well come last. Falling back on the
// request's own piece made every host of the fleet benchmark stream most
// large files from the mirror once more, behind a busy mirror link
// (BenchmarkFleet). 4 x stall stays below dnf's limit of 30 s under
// 1000 bytes/s.
type swarmReader struct {
	ctx context.Context
	h   *Handler
	it  *item
	t   torrent.Reader
	url string
	pos int64
	// fb is the mirror's answer from pos on, once fallen back.
	fb       io.ReadCloser
	fellBack bool
	// want is the file's SHA-256 from the repo metadata (given to
	// /prefetch), checked while the file is read whole from its start:
	// on a mismatch the last bytes are withheld, so that the client sees
	// a short answer and takes the file from its next mirror.
	want   []byte
	sum    hash.Hash
	hashed int64
}

func (r *swarmReader) Read(p []byte) (int, error) {
	start := r.pos
	n, err := r.read(p)
	if r.sum != nil && start != r.hashed {
		// A range: only whole reads from the start are checked.
		r.sum = nil
	}
	if r.sum == nil || n == 0 {
		return n, err
	}
	r.sum.Write(p[:n])
	r.hashed += int64(n)
	if start+int64(n) == r.it.length && !bytes.Equal(r.sum.Sum(nil), r.want) {
		r.h.log.Warn("the file's SHA-256 differs from the repo metadata's; not handing it out", "torrent", r.it.name, "url", r.url)
		return 0, errSHA256
	}
	return n, err
}

var errSHA256 = errors.New("SHA-256 differs from the repo metadata's")

// pollEvery is how often a request waiting for a piece looks at it.
const pollEvery = 20 * time.Millisecond

func (r *swarmReader) read(p []byte) (int, error) {
	if r.pos >= r.it.length {
		return 0, io.EOF
	}
	if !r.fellBack {
		// Waits for the piece at pos to verify, looking at the store's
		// state meanwhile, so that a store that fails (a full disk) is
		// noticed at once rather than after the whole stall. (Polling,
		// not a read with a deadline: the engine logs every read that
		// times out as an error.)
		piece := int(r.pos / r.it.t.Info().PieceLength)
		began, done := time.Now(), r.it.t.BytesCompleted()
		progress := began
		for time.Since(progress) < r.h.cfg.Stall && time.Since(began) < 4*r.h.cfg.Stall && r.h.swarm.failure(r.it) == nil {
			if r.it.t.Piece(piece).State().Complete {
				ctx, cancel := context.WithTimeout(r.ctx, r.h.cfg.Stall)
				n, err := r.t.ReadContext(ctx, p)
				cancel()
				r.pos += int64(n)
				if n > 0 {
					return n, nil
				}
				return 0, cmpErr(err, io.ErrUnexpectedEOF)
			}
			select {
			case <-r.ctx.Done():
				return 0, r.ctx.Err()
			case <-time.After(pollEvery):
			}
			if d := r.it.t.BytesCompleted(); d != done {
				done, progress = d, time.Now()
			}
		}
		r.h.log.Info("no verified bytes for a while, or the store failed; streaming the rest from the mirror",
			"torrent", r.it.name, "offset", r.pos, "err", r.h.swarm.failure(r.it))
		r.fellBack = true
	}
	if r.fb == nil {
		body, err := r.openMirror()
		if err != nil {
			return 0, err
		}
		r.fb = body
	}
	n, err := r.fb.Read(p)
	r.pos += int64(n)
	r.h.stats.fallback.Add(int64(n))
	if err == io.EOF && r.pos < r.it.length {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func cmpErr(a, b error) error {
	if b != nil {
		return b
	}
	return a
}

func (r *swarmReader) openMirror() (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	if r.pos > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.pos, 10)+"-")
	}
	resp, err := r.h.origin.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	if err := checkRange(resp, r.pos, r.it.length-r.pos, r.it.length); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}

func (r *swarmReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.it.length
	}
	if off < 0 {
		return 0, errors.New("seek before the start")
	}
	if off == r.pos {
		return off, nil
	}
	if r.fb != nil {
		r.fb.Close()
		r.fb = nil
	}
	if _, err := r.t.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	r.pos = off
	return off, nil
}

func (r *swarmReader) Close() error {
	if r.fb != nil {
		r.fb.Close()
	}
	return r.t.Close()
}
