package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// target is a request's file at its mirror.
type target struct {
	scheme, host string
	// path is unescaped; url keeps the request's escaping.
	path  string
	url   *url.URL
	count *atomic.Int64
}

type targetKey struct{}

// parseTarget reads /m/{scheme}/{host[:port]}/{path} (or the same under
// another lane, /m2/ to /m9/), keeping the path's percent-encoding as dnf
// sent it.
func parseTarget(r *http.Request) (*target, error) {
	return parseTargetPath(r.URL.EscapedPath(), r.URL.RawQuery)
}

func parseTargetPath(escapedPath, rawQuery string) (*target, error) {
	rest, _ := repos.AgentPath(escapedPath)
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

// newPassThrough is the reverse proxy to the mirrors: it sends a request
// to its target's URL and counts the answer's bytes in the target's
// counter; learn may wrap the body of a successful answer.
func newPassThrough(origin *http.Client, log *slog.Logger, learn func(*target, *http.Response)) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*target)
			pr.Out.URL = target.url
			pr.Out.Host = ""
		},
		Transport: origin.Transport,
		ModifyResponse: func(resp *http.Response) error {
			target := resp.Request.Context().Value(targetKey{}).(*target)
			resp.Body = &countingBody{ReadCloser: resp.Body, n: target.count}
			if resp.StatusCode == http.StatusOK && resp.Request.Method == http.MethodGet {
				learn(target, resp)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var ce *certError
			if errors.As(err, &ce) {
				// Logged once by certTransports.
				writeError(w, &Error{http.StatusBadGateway, "mirror not reached: " + ce.Error()})
				return
			}
			log.Info("mirror unreachable", "url", r.URL.String(), "err", err)
			writeError(w, &Error{http.StatusBadGateway, "mirror unreachable"})
		},
	}
}

// passThrough answers with the mirror's own answer, headers and all
// (ranges and conditional requests included), counting its bytes in n.
func (h *Handler) passThrough(w http.ResponseWriter, r *http.Request, tg *target, n *atomic.Int64) {
	tg.count = n
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, tg)))
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// learnPrimary copies a repo's primary.xml, as it passes through whole,
// into the store, to learn its packages' sizes and digests (repoMeta).
// At most two are read at once; others pass through unread.
func (h *Handler) learnPrimary(tg *target, resp *http.Response) {
	comp, ok := primaryCompression(tg.path)
	if !ok || resp.Header.Get("Content-Range") != "" || resp.ContentLength > maxPrimarySize {
		return
	}
	select {
	case h.meta.learning <- struct{}{}:
	default:
		return
	}
	f, err := os.CreateTemp(h.cfg.Store, ".primary-*")
	if err != nil {
		<-h.meta.learning
		return
	}
	resp.Body = &primaryTee{ReadCloser: resp.Body, f: f, want: resp.ContentLength, comp: comp,
		srcURL: tg.url.String(), meta: h.meta, log: h.log}
}
