package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
)

const (
	// maxPrefetchBody bounds a /prefetch request: a transaction of 2000
	// packages is about 400 KB.
	maxPrefetchBody = 4 << 20
	// maxPrefetch bounds the packages of one /prefetch request.
	maxPrefetch = 10000
	// prefetchWindow bounds the prefetched torrents downloading at once,
	// of every prefetch together, each taken in its transaction's order:
	// a slot is free again when its download ends, fails, or has run for
	// prefetchHold.
	prefetchWindow = 16
	prefetchHold   = 10 * time.Minute
	// maxPrefetchQueued bounds the packages of every prefetch waiting for
	// a slot: past it a prefetch is refused (503), and dnf downloads as
	// it would without one.
	maxPrefetchQueued = 20000
)

// PrefetchRequest is the body of POST /prefetch: the packages of a
// transaction, as the dnf plugin sends them.
type PrefetchRequest struct {
	Packages []PrefetchPackage `json:"packages"`
}

// PrefetchPackage is one package: its URL at the mirror (as dnf's
// remote_location gives it, not percent-encoded, or the agent's own
// /m/ URL for it), and, when the caller knows them, its size and SHA-256
// from the repo metadata (0 and "" otherwise).
type PrefetchPackage struct {
	URL    string `json:"url"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// PrefetchAnswer is the answer of POST /prefetch.
type PrefetchAnswer struct {
	// Accepted counts the packages whose download starts.
	Accepted int `json:"accepted"`
	// Refused lists the others, with why.
	Refused []PrefetchRefusal `json:"refused"`
}

// PrefetchRefusal is a package /prefetch does not start.
type PrefetchRefusal struct {
	URL    string `json:"url"`
	Reason string `json:"reason"`
}

// servePrefetch starts the download of the packages of a transaction,
// prefetchWindow at a time in the transaction's order, and answers at
// once (202), so that the swarm has the files before dnf asks for them
// three at a time. Later GETs of those files read what is already
// downloading. A size or SHA-256 given here is checked against the repo
// metadata the agent read (repoMeta), and the package refused when they
// differ; it is never kept, so a wrong one costs only this prefetch. A
// download nobody asks for finishes and is seeded and evicted like any
// other, so an abandoned transaction costs only its bytes.
//
// Only a local program can ask: the request must be JSON (which a web
// page cannot send to another origin without the browser asking first)
// with a Host on loopback (which a DNS-rebinding page does not have).
func (h *Handler) servePrefetch(w http.ResponseWriter, r *http.Request) {
	if !repos.LoopbackHost(r.Host) {
		writeError(w, &Error{http.StatusForbidden, "forbidden: a prefetch must name the agent on loopback in its Host header"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, &Error{http.StatusUnsupportedMediaType, "unsupported media type: a prefetch is application/json"})
		return
	}
	var req PrefetchRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxPrefetchBody))
	if err := dec.Decode(&req); err != nil {
		writeError(w, &Error{http.StatusBadRequest, "bad request: want JSON {\"packages\": [{\"url\", \"size\"?, \"sha256\"?}...]}: " + firstLine(err.Error())})
		return
	}
	if len(req.Packages) > maxPrefetch {
		writeError(w, &Error{http.StatusRequestEntityTooLarge, "too many packages: at most 10000 in one prefetch"})
		return
	}
	var ans PrefetchAnswer
	ans.Refused = []PrefetchRefusal{}
	type job struct {
		tg      *target
		torrent string
		size    int64
	}
	var jobs []job
	for _, p := range req.Packages {
		tg, size, err := h.prefetchTarget(p)
		var torrentURL string
		if err == nil {
			var ok bool
			if torrentURL, ok = h.torrentURL(tg, false); !ok {
				err = errors.New("not a package (see the packages setting)")
			}
		}
		if err != nil {
			ans.Refused = append(ans.Refused, PrefetchRefusal{p.URL, err.Error()})
			continue
		}
		jobs = append(jobs, job{tg, torrentURL, size})
	}
	if q := h.prefetchQueued.Add(int64(len(jobs))); q > maxPrefetchQueued {
		h.prefetchQueued.Add(-int64(len(jobs)))
		w.Header().Set("Retry-After", "60")
		writeError(w, &Error{http.StatusServiceUnavailable, "busy: too many prefetched packages waiting already"})
		return
	}
	ans.Accepted = len(jobs)
	h.stats.prefetched.Add(int64(len(jobs)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(ans)

	go func() {
		for i, j := range jobs {
			select {
			case h.prefetching <- struct{}{}:
				h.prefetchQueued.Add(-1)
			case <-h.swarm.closed:
				h.prefetchQueued.Add(-int64(len(jobs) - i))
				return
			}
			go func() {
				defer func() { <-h.prefetching }()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				it, err := h.swarm.open(ctx, j.torrent, j.tg.url.String(), j.size)
				if err != nil {
					h.log.Debug("prefetch: no torrent", "url", j.tg.url.String(), "err", err)
					return
				}
				h.swarm.waitDone(it, prefetchHold)
				h.swarm.release(it)
			}()
		}
	}()
}

// prefetchTarget reads a prefetch URL (a mirror's URL, or the agent's
// /m/ URL for it: dnf's remote_location gives the repo's first baseurl,
// the agent's in a local-first repo), and returns the size the torrent
// must have: the repo metadata's when the agent read it, else the
// caller's (0: any).
func (h *Handler) prefetchTarget(p PrefetchPackage) (*target, int64, error) {
	var sum []byte
	if p.SHA256 != "" {
		var err error
		if sum, err = hex.DecodeString(p.SHA256); err != nil || len(sum) != 32 {
			return nil, 0, errors.New("sha256: want 64 hex digits")
		}
	}
	if p.Size < 0 {
		return nil, 0, errors.New("size: want a byte count")
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, errors.New("url: want an http or https URL")
	}
	escaped := "/m/" + u.Scheme + "/" + u.Host + u.EscapedPath()
	if _, ok := repos.AgentPath(u.Path); ok && repos.LoopbackHost(u.Host) {
		if _, _, err := net.SplitHostPort(u.Host); err == nil {
			escaped = u.EscapedPath()
		}
	}
	tg, err := parseTargetPath(escaped, "")
	if err != nil {
		return nil, 0, err
	}
	if !h.mirrors.Allowed(tg.scheme, tg.host, tg.path) {
		return nil, 0, errors.New("not an allowed mirror")
	}
	meta, ok := h.meta.lookup(tg.url.String())
	switch {
	case !ok:
		return tg, p.Size, nil
	case p.Size != 0 && p.Size != meta.size:
		return nil, 0, fmt.Errorf("size %d differs from the repo metadata's %d", p.Size, meta.size)
	case sum != nil && meta.sha256 != nil && !bytes.Equal(sum, meta.sha256):
		return nil, 0, errors.New("sha256 differs from the repo metadata's")
	}
	return tg, meta.size, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
