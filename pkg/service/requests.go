package service

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
)

// ErrUnknownDigest reports a GET for a digest the service has no valid
// torrent for; the client answers by POSTing the paths.
var ErrUnknownDigest = errors.New("unknown digest")

// parseDigest checks a 40-hex-digit digest and returns it in lower case.
func parseDigest(arg string) (string, error) {
	if len(arg) != 2*sha1.Size {
		return "", clientError(http.StatusBadRequest, "bad request: digest %q is not 40 hex digits", arg)
	}
	if _, err := hex.DecodeString(arg); err != nil {
		return "", clientError(http.StatusBadRequest, "bad request: digest %q is not 40 hex digits", arg)
	}
	return strings.ToLower(arg), nil
}

// serveDigest answers GET and POST {mount}/digest/{digest}, with the
// torrent or, for ?format=magnet, its magnet link.
func (s *Service) serveDigest(w http.ResponseWriter, r *http.Request, rt Route) error {
	digest, err := parseDigest(rt.Arg)
	if err != nil {
		return err
	}
	asMagnet, err := wantsMagnet(r)
	if err != nil {
		return err
	}
	write := func(e *infocache.Entry, checked time.Time) error {
		if asMagnet {
			return s.writeMagnet(w, r, e, checked, "/"+rt.Top+"/"+s.cfg.ServiceName+"/digest/"+digest)
		}
		return s.writeTorrent(w, r, e, checked)
	}
	if r.Method != http.MethodPost {
		e, checked, err := s.cachedDigest(r, digest)
		if errors.Is(err, ErrUnknownDigest) {
			h := w.Header()
			h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
			h.Set("Pragma", "no-cache")
			h.Set("Expires", "0")
			w.WriteHeader(http.StatusPreconditionFailed)
			return nil
		}
		if err != nil {
			return err
		}
		return write(e, checked)
	}
	req, paths, err := s.parsePost(w, r, digest)
	if err != nil {
		return err
	}
	root, err := s.rootOf(r)
	if err != nil {
		return err
	}
	defer root.close()
	e, checked, err := s.entry(root, request{text: req, paths: paths, key: digest})
	if err != nil {
		return err
	}
	return write(e, checked)
}

// wantsMagnet reports whether the query asks for a magnet link
// (format=magnet) rather than the torrent (no format, or format=torrent).
func wantsMagnet(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "torrent":
		return false, nil
	case "magnet":
		return true, nil
	default:
		return false, clientError(http.StatusBadRequest, "bad request: format %q (want torrent or magnet)", f)
	}
}

// parsePost reads the p fields of a POST and checks them against the
// digest. It returns the request text (the "\n"-joined fields whose SHA-1
// is the digest) and the clean relative paths in the order posted.
func (s *Service) parsePost(w http.ResponseWriter, r *http.Request, digest string) (string, []string, error) {
	if err := checkFormType(r); err != nil {
		return "", nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, err
		}
		return "", nil, clientError(http.StatusBadRequest, "bad request: unreadable body: %v", err)
	}
	ps, err := formValues(string(body), "p", s.cfg.MaxFiles)
	if err != nil {
		return "", nil, err
	}
	if len(ps) == 0 {
		return "", nil, clientError(http.StatusBadRequest, "bad request: no p field in the body (want application/x-www-form-urlencoded p=/path&p=/path...)")
	}
	// yum-torrent sorts the paths, hashes them and posts them in that
	// order, and the torrent keeps the posted order. A client that posts
	// them in another order but hashed them sorted is accepted too; its
	// torrent is in sorted order, so that the order is always the one the
	// digest was computed over.
	req := strings.Join(ps, "\n")
	if infocache.Key(req) != digest {
		sorted := slices.Clone(ps)
		slices.Sort(sorted)
		if alt := strings.Join(sorted, "\n"); infocache.Key(alt) == digest {
			req, ps = alt, sorted
		} else {
			return "", nil, clientError(http.StatusBadRequest, "bad request: digest %s is not the SHA-1 of the posted paths (%s)", digest, infocache.Key(req))
		}
	}
	paths := make([]string, len(ps))
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		rel, err := docroot.Clean(p)
		if err != nil {
			return "", nil, err
		}
		if seen[rel] {
			return "", nil, clientError(http.StatusBadRequest, "bad request: path %q is posted twice", p)
		}
		seen[rel] = true
		paths[i] = rel
	}
	return req, paths, nil
}

// cachedDigest returns the torrent of a digest that was POSTed before:
// its cached entry, revalidated, or rebuilt from the paths it records when
// its files changed. ErrUnknownDigest when there is none to trust.
func (s *Service) cachedDigest(r *http.Request, digest string) (*infocache.Entry, time.Time, error) {
	e, checked, err := s.loadEntry(digest)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, infocache.ErrCorrupt) {
			s.cacheProblem(err)
		}
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrUnknownDigest, err)
	}
	if strings.HasPrefix(e.Request, singlePrefix) {
		return nil, time.Time{}, fmt.Errorf("%w: entry %s is a single-mode entry", ErrUnknownDigest, digest)
	}
	me := s.entries.of(e)
	if me == nil {
		// Dropped from memory meanwhile: parse the paths again.
		me = newMemEntry(digest, piececache.Stamp{}, e)
	}
	if me.pathsErr != nil {
		return nil, time.Time{}, fmt.Errorf("%w: cached request: %w", ErrUnknownDigest, me.pathsErr)
	}
	root, err := s.rootOf(r)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer root.close()
	e, checked, err = s.entry(root, request{text: e.Request, paths: me.paths, key: digest,
		loaded: &checkedEntry{e, checked}})
	if errors.Is(err, docroot.ErrNotFound) {
		// A file is gone: let the client POST and learn which.
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrUnknownDigest, err)
	}
	return e, checked, err
}

// serveSingle answers {mount}/single/{path-or-glob} with the torrent, and
// {mount}/magnet/{path-or-glob} with its magnet link.
func (s *Service) serveSingle(w http.ResponseWriter, r *http.Request, rt Route, asMagnet bool) error {
	pattern, err := docroot.CleanRelative(rt.Arg)
	if err != nil {
		return err
	}
	root, err := s.rootOf(r)
	if err != nil {
		return err
	}
	defer root.close()
	e, checked, err := s.singleEntry(root, pattern)
	if err != nil {
		return err
	}
	if asMagnet {
		return s.writeMagnet(w, r, e, checked, "/"+rt.Top+"/"+s.cfg.ServiceName+"/single/"+escapePath(pattern))
	}
	return s.writeTorrent(w, r, e, checked)
}

// serveNullfile answers {mount}/nullfile/{size}_{n}: size zero bytes, the
// content of a padding entry for clients that do not know BEP 47. Range
// requests are answered as for any file, within BoundRange.
func (s *Service) serveNullfile(w http.ResponseWriter, r *http.Request, arg string) error {
	sizeText, n, hasN := strings.Cut(arg, "_")
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if err != nil || size < 0 || (hasN && !isDigits(n)) {
		return clientError(http.StatusBadRequest, "bad request: nullfile name %q is not {size}_{n}", arg)
	}
	if size > s.cfg.PieceLength {
		return clientError(http.StatusForbidden, "forbidden: nullfile of %d bytes is larger than the piece length %d", size, s.cfg.PieceLength)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "public, max-age=86400")
	BoundRange(r)
	http.ServeContent(w, r, "", time.Time{}, zeros(size))
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
