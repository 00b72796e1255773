package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// maxScrape bounds the answer read from a tracker's scrape.
const maxScrape = 64 << 10

// swarmSize returns the hosts in the swarm of the torrent ih as its
// trackers count them when asked (a scrape: seeders and leechers, the
// most any of trackers counts), or 0 when none answers before ctx ends.
// Only HTTP trackers whose announce URL a scrape URL follows from (see
// scrapeURL) are asked: the same trackers the torrent is announced to,
// directly, like its announces.
func (s *Swarm) swarmSize(ctx context.Context, trackers []string, ih metainfo.Hash) int {
	most := 0
	for _, tr := range trackers {
		u, ok := scrapeURL(tr, ih)
		if !ok {
			continue
		}
		n, err := s.scrape(ctx, u, ih)
		if err != nil {
			s.log.Debug("scrape", "tracker", tr, "err", err)
			continue
		}
		most = max(most, n)
	}
	return most
}

// scrapeURL is the scrape URL of the HTTP tracker of announce URL tr for
// the torrent ih, by the convention trackers follow (BEP 48): "announce"
// at the start of the path's last part becomes "scrape". false when tr
// has no such part.
func scrapeURL(tr string, ih metainfo.Hash) (string, bool) {
	u, err := url.Parse(tr)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return "", false
	}
	i := strings.LastIndexByte(u.Path, '/')
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return "", false
	}
	u.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(u.Path[i+1:], "announce")
	u.RawPath = ""
	// The info hash first, every byte but the unreserved ones as %XX:
	// opentracker decodes %XX only, so the '+' that url.Values makes of
	// a space byte named another torrent (one torrent in 13 has one).
	// The announce URL's own parameters follow as they were written.
	q := "info_hash=" + escapeBytes(ih[:])
	if u.RawQuery != "" {
		q += "&" + u.RawQuery
	}
	u.RawQuery = q
	return u.String(), true
}

// escapeBytes percent-encodes b for a URL's query, leaving only the
// unreserved characters of RFC 3986 as they are.
func escapeBytes(b []byte) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&15])
	}
	return sb.String()
}

// scrape asks the tracker at scrape URL u how many hosts are in the
// swarm of ih.
func (s *Swarm) scrape(ctx context.Context, u string, ih metainfo.Hash) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.trackers.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("tracker's scrape: %s", resp.Status)
	}
	var answer struct {
		Files map[string]struct {
			Complete   int64 `bencode:"complete"`
			Incomplete int64 `bencode:"incomplete"`
		} `bencode:"files"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return 0, err
	}
	if err := bencode.Unmarshal(b, &answer); err != nil {
		return 0, err
	}
	f, ok := answer.Files[string(ih[:])]
	if !ok {
		return 0, errors.New("tracker's scrape: no entry for the torrent")
	}
	return int(min(max(f.Complete, 0)+max(f.Incomplete, 0), 1<<30)), nil
}
