package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

func TestScrapeURL(t *testing.T) {
	var ih metainfo.Hash
	copy(ih[:], "an info hash, 20 B..")
	// Spaces as %20, not '+' (opentracker decodes %XX only: see
	// TestScrapeOpentracker).
	q := "info_hash=an%20info%20hash%2C%2020%20B.."
	for _, c := range []struct{ announce, want string }{
		{"http://tracker:6969/announce", "http://tracker:6969/scrape?" + q},
		{"https://tracker/t/announce.php?key=1", "https://tracker/t/scrape.php?" + q + "&key=1"},
		{"https://tracker/t/announce.php?key=a+b%2B", "https://tracker/t/scrape.php?" + q + "&key=a+b%2B"},
		{"http://tracker:6969/", ""},
		{"http://tracker/a/announce/x", ""},
		{"udp://tracker:6969/announce", ""},
	} {
		got, ok := scrapeURL(c.announce, ih)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("scrapeURL(%q) = %q, %v; want %q", c.announce, got, ok, c.want)
		}
	}
}

// TestSwarmSize: the most hosts any tracker counts, seeders and leechers;
// a tracker that fails or does not know the torrent counts none.
func TestSwarmSize(t *testing.T) {
	var ih, other metainfo.Hash
	copy(ih[:], "an info hash, 20 B..")
	copy(other[:], "another one, 20 B...")
	type counts struct {
		Complete   int `bencode:"complete"`
		Downloaded int `bencode:"downloaded"`
		Incomplete int `bencode:"incomplete"`
	}
	tracker := func(files map[string]counts) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/scrape" || r.URL.Query().Get("info_hash") != string(ih[:]) {
				http.NotFound(w, r)
				return
			}
			b, err := bencode.Marshal(map[string]any{"files": files})
			if err != nil {
				t.Error(err)
			}
			w.Write(b)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	counting := tracker(map[string]counts{string(ih[:]): {Complete: 7, Incomplete: 3}, string(other[:]): {Incomplete: 99}})
	fewer := tracker(map[string]counts{string(ih[:]): {Incomplete: 4}})
	stranger := tracker(map[string]counts{string(other[:]): {Incomplete: 50}})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer failing.Close()
	s := &Swarm{trackers: http.DefaultClient, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	trackers := []string{failing.URL + "/announce", stranger.URL + "/announce", fewer.URL + "/announce", counting.URL + "/announce", "udp://127.0.0.1:9/announce"}
	if n := s.swarmSize(context.Background(), trackers, ih); n != 10 {
		t.Errorf("swarmSize = %d, want 10", n)
	}
	if n := s.swarmSize(context.Background(), trackers[:2], ih); n != 0 {
		t.Errorf("swarmSize of trackers that do not count it = %d, want 0", n)
	}
}

// TestScrapeOpentracker: opentracker counts the host that announced an
// info hash with space bytes in it (0x20, in about one torrent in 13),
// when asked through scrapeURL. The announce is written here byte by
// byte (%XX), as clients do.
func TestScrapeOpentracker(t *testing.T) {
	var ih metainfo.Hash
	copy(ih[:], "an info hash, 20 B..")
	port := e2e.Port(t)
	e2e.StartOpentracker(t, e2e.Node{}, port, []string{ih.HexString()})
	announce := e2e.Announce(port)
	var raw strings.Builder
	for _, c := range ih {
		fmt.Fprintf(&raw, "%%%02X", c)
	}
	resp, err := http.Get(announce + "?info_hash=" + raw.String() + "&peer_id=-TEST00-abcdefghijkl&port=1234&uploaded=0&downloaded=0&left=10&compact=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "interval") {
		t.Fatalf("announce: %s: %q", resp.Status, body)
	}
	s := &Swarm{trackers: http.DefaultClient, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n := s.swarmSize(context.Background(), []string{announce}, ih); n != 1 {
		t.Errorf("swarmSize = %d, want 1: the host that announced", n)
	}
}
