package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// writeTorrent answers with the .torrent of entry e, whose files were
// last checked at checked: the cached info with the current trackers,
// this request's web seed and the other mirrors', and the DHT nodes
// around it.
func (s *Service) writeTorrent(w http.ResponseWriter, r *http.Request, e *infocache.Entry, checked time.Time) error {
	base, err := s.baseURL(r)
	if err != nil {
		return err
	}
	s.markUsed(e)
	trackers := s.trackers.URLs()
	lastMod := s.lastModified(e)
	// A repeated request gets the body made for the first: same entry,
	// base URL, trackers and Last-Modified give the same bytes, so the
	// same ETag, against which If-None-Match is checked.
	me := s.entries.of(e)
	a := me.answer(base, trackers, lastMod)
	// The info hashes, computed once (per memEntry, else per request),
	// and only when the answer or the tracker's whitelist needs them.
	var hashes infoHashes
	if a == nil || s.whitelist != nil {
		hashes = me.infoHashes(e, s.cfg.Format == torrent.Hybrid)
	}
	s.allowOnTracker(hashes)
	if a == nil {
		seeds, err := s.webSeeds(r, e)
		if err != nil {
			return err
		}
		hash := hashes.v1
		body := torrent.Metainfo(e.Info, torrent.Extras{
			Trackers:    torrent.OrderTrackers(trackers, hash),
			WebSeeds:    seeds,
			Nodes:       s.nodes,
			PieceLayers: e.PieceLayers,
		})
		a = &answer{base: base, trackers: trackers, lastMod: lastMod, body: body, etag: etagOf(body),
			disposition: "attachment; filename=" + hex.EncodeToString(hash[:]) + ".torrent"}
		s.entries.addAnswer(me, a)
	}
	w.Header().Set("Content-Disposition", a.disposition)
	s.writeBody(w, r, a.body, a.etag, "application/x-bittorrent", a.lastMod, s.cacheControl(checked))
	return nil
}

// writeMagnet answers with the magnet link of entry e (text/plain, one
// line): xt with the v1 info hash (urn:btih) and, for a hybrid torrent,
// the v2 one (urn:btmh, a SHA-256 multihash); dn, the torrent's name; tr
// for each tracker, in the torrent's order; ws, the file's own URL, for a
// single-file torrent; xs, the URL of the .torrent (servicePath, under
// this request's base URL). Every value is percent-encoded. checked is
// when e's files were last checked, as for writeTorrent.
func (s *Service) writeMagnet(w http.ResponseWriter, r *http.Request, e *infocache.Entry, checked time.Time, servicePath string) error {
	base, err := s.baseURL(r)
	if err != nil {
		return err
	}
	s.markUsed(e)
	hybrid := s.cfg.Format == torrent.Hybrid
	hashes := s.entries.of(e).infoHashes(e, hybrid)
	s.allowOnTracker(hashes)
	hash := hashes.v1
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:" + hex.EncodeToString(hash[:]))
	if hybrid {
		b.WriteString("&xt=urn:btmh:1220" + hex.EncodeToString(hashes.v2[:]))
	}
	b.WriteString("&dn=" + magnetEscape(torrentName(e)))
	for _, t := range torrent.OrderTrackers(s.trackers.URLs(), hash) {
		b.WriteString("&tr=" + magnetEscape(t))
	}
	if e.Single {
		b.WriteString("&ws=" + magnetEscape(seedURL(base, e)+url.PathEscape(torrentName(e))))
	}
	b.WriteString("&xs=" + magnetEscape(base+servicePath))
	b.WriteString("\n")
	body := []byte(b.String())
	s.writeBody(w, r, body, etagOf(body), "text/plain; charset=utf-8", s.lastModified(e), s.cacheControl(checked))
	return nil
}

// torrentName is the name in e's info: the file's base name for a
// single-file torrent, else the first folder that all files share.
func torrentName(e *infocache.Entry) string {
	if e.Single {
		return path.Base(e.Paths[0])
	}
	top, _ := docroot.TopFolder(e.Paths[0])
	return top
}

// magnetEscape percent-encodes every byte of v but the unreserved ones of
// RFC 3986, so that no magnet parser can take a value's "&", "+", "=" or
// space for anything else.
func magnetEscape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// escapePath escapes each segment of a slash-separated path for a URL.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// lastModified is the Last-Modified of e's answers: the latest of when its
// info was built, when the trackers last changed and when this process
// started (its settings: mirrors, DHT nodes), as these shape the body.
func (s *Service) lastModified(e *infocache.Entry) time.Time {
	t := e.Built
	for _, u := range []time.Time{s.trackers.ModTime(), s.started} {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// maxAge is how long a cache in front of the mirror may keep an answer
// made from an entry whose files were last checked at checked: the time
// left until this service would check them again (revalidate after
// checked), in whole seconds rounded down, between 0 and revalidate. So a
// cache never serves a torrent longer than the service itself would
// without looking at its files.
func (s *Service) maxAge(checked time.Time) time.Duration {
	left := s.cfg.Revalidate - s.now().Sub(checked)
	left = min(max(left, 0), s.cfg.Revalidate)
	return left.Truncate(time.Second)
}

// cacheControl is the Cache-Control of a GET or HEAD answered from an
// entry whose files were last checked at checked: public with maxAge, or
// no-cache when revalidate is 0 (every request checks the files).
func (s *Service) cacheControl(checked time.Time) string {
	if s.cfg.Revalidate <= 0 {
		return "no-cache"
	}
	return "public, max-age=" + strconv.Itoa(int(s.maxAge(checked)/time.Second))
}

// etagOf is the strong ETag of body.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// writeBody answers with body and validators for the HTTP caches in
// front of mirrors: a strong ETag over the exact body (so it changes with
// the info hash, trackers, web seeds or nodes), Last-Modified, and for GET
// and HEAD cacheControl (see Service.cacheControl). A GET or HEAD whose
// If-None-Match holds the ETag (or, without If-None-Match, whose
// If-Modified-Since is not older than Last-Modified) gets 304 with no
// body, and the same Cache-Control.
func (s *Service) writeBody(w http.ResponseWriter, r *http.Request, body []byte, etag, contentType string, lastMod time.Time, cacheControl string) {
	lastMod = lastMod.UTC().Truncate(time.Second)
	h := w.Header()
	h.Set("ETag", etag)
	if !lastMod.IsZero() {
		h.Set("Last-Modified", lastMod.Format(http.TimeFormat))
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	if get {
		h.Set("Cache-Control", cacheControl)
		if notModified(r, etag, lastMod) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// notModified applies If-None-Match, or when the request has none,
// If-Modified-Since (RFC 9110, section 13.2.2).
func notModified(r *http.Request, etag string, lastMod time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		for _, list := range inm {
			for tag := range strings.SplitSeq(list, ",") {
				tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
				if tag == "*" || tag == etag {
					return true
				}
			}
		}
		return false
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || lastMod.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims)
	return err == nil && !lastMod.After(t)
}

// webSeeds returns the url-list of e (BEP 19): this request's base URL,
// then each mirror's, with for a single-file torrent the folder of the
// file appended, since a client appends only the torrent's name.
func (s *Service) webSeeds(r *http.Request, e *infocache.Entry) ([]string, error) {
	base, err := s.baseURL(r)
	if err != nil {
		return nil, err
	}
	seeds := []string{seedURL(base, e)}
	for _, m := range s.cfg.Mirrors {
		if seed := seedURL(strings.TrimRight(m, "/"), e); !slices.Contains(seeds, seed) {
			seeds = append(seeds, seed)
		}
	}
	return seeds, nil
}

// seedURL is the web seed of e under base (scheme://host[/path], without
// a trailing slash).
func seedURL(base string, e *infocache.Entry) string {
	if !e.Single {
		return base + "/"
	}
	dir := path.Dir(e.Paths[0])
	if dir == "." {
		return base + "/"
	}
	return base + "/" + escapePath(dir) + "/"
}

// baseURL returns scheme://host[:port] of the request, without a trailing
// slash, or the base-url setting when it is set. The port comes from the
// Host header, or from SERVER_PORT when the header has none and the port
// is not the scheme's default (Debian's nginx passes Host without it).
func (s *Service) baseURL(r *http.Request) (string, error) {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/"), nil
	}
	scheme, defPort := "http", "80"
	if r.TLS != nil || strings.EqualFold(s.env(r, "HTTPS"), "on") {
		scheme, defPort = "https", "443"
	}
	host := r.Host
	if host == "" {
		host = s.env(r, "SERVER_NAME")
	}
	if host == "" || !validHost(host) {
		return "", clientError(http.StatusBadRequest, "bad request: missing or malformed Host header %q", host)
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		if port := s.env(r, "SERVER_PORT"); port != "" && port != defPort && isDigits(port) {
			host = net.JoinHostPort(strings.Trim(host, "[]"), port)
		}
	}
	return scheme + "://" + host, nil
}

func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// zeroFile is an io.ReadSeeker over size zero bytes.
type zeroFile struct{ size, off int64 }

func zeros(size int64) *zeroFile { return &zeroFile{size: size} }

func (z *zeroFile) Read(p []byte) (int, error) {
	if z.off >= z.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.size-z.off)
	clear(p[:n])
	z.off += n
	return int(n), nil
}

func (z *zeroFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += z.off
	case io.SeekEnd:
		offset += z.size
	}
	if offset < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	z.off = offset
	return offset, nil
}
