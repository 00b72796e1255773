package service

import (
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// writeTorrent answers with the .torrent of entry e: the cached info with
// the current trackers and this request's web seed around it.
func (s *Service) writeTorrent(w http.ResponseWriter, r *http.Request, e *infocache.Entry) error {
	seed, err := s.webSeed(r, e)
	if err != nil {
		return err
	}
	s.markUsed(e)
	hash := torrent.InfoHash(e.Info)
	body := torrent.Metainfo(e.Info, torrent.OrderTrackers(s.trackers.URLs(), hash), seed)
	h := w.Header()
	h.Set("Content-Type", "application/x-bittorrent")
	h.Set("Content-Disposition", "attachment; filename="+hex.EncodeToString(hash[:])+".torrent")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}

// webSeed returns the url-list entry of e (BEP 19): the site's base URL,
// plus for a single-file torrent the folder of the file, since a client
// appends only the torrent's name.
func (s *Service) webSeed(r *http.Request, e *infocache.Entry) (string, error) {
	base, err := s.baseURL(r)
	if err != nil {
		return "", err
	}
	if !e.Single {
		return base + "/", nil
	}
	dir := path.Dir(e.Paths[0])
	if dir == "." {
		return base + "/", nil
	}
	segs := strings.Split(dir, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return base + "/" + strings.Join(segs, "/") + "/", nil
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
