package agent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestHostileTorrents: a mirror whose torrent for a package says more
// than the package (a name.utf-8 other than its name, which the engine
// would store the file under; a size past max-file-size; more pieces than
// max-pieces) gets its torrent refused before anything is downloaded or
// stored: dnf gets the mirror's bytes as they are, the store holds no
// torrent and no data.
func TestHostileTorrents(t *testing.T) {
	data := bytes.Repeat([]byte("package bytes "), 5000)
	const name = "h-1-1.noarch.rpm"
	torrentOf := func(edit func(*metainfo.Info)) []byte {
		info := metainfo.Info{Name: name, Length: int64(len(data)), PieceLength: 16 << 10}
		for off := 0; off < len(data); off += int(info.PieceLength) {
			sum := sha1.Sum(data[off:min(len(data), off+int(info.PieceLength))])
			info.Pieces = append(info.Pieces, sum[:]...)
		}
		edit(&info)
		ib, err := bencode.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		edit func(*metainfo.Info)
	}{
		{"name.utf-8", func(i *metainfo.Info) { i.NameUtf8 = "elsewhere.rpm" }},
		{"1 TiB", func(i *metainfo.Info) {
			i.Length = 1 << 40
			i.PieceLength = 64 << 20
			i.Pieces = make([]byte, 20*(1<<40/(64<<20)))
		}},
		{"too many pieces", func(i *metainfo.Info) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			torrent := torrentOf(tc.edit)
			mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "/torrent_service/single/") {
					w.Write(torrent)
					return
				}
				http.ServeContent(w, r, name, time.Unix(1e9, 0), bytes.NewReader(data))
			}))
			defer mirror.Close()
			store := t.TempDir()
			a := startAgent(t, store, []string{mirror.URL}, func(c *settings.Config) {
				if tc.name == "too many pieces" {
					c.MaxPieces = 3 // the package has 5
				}
			})
			resp, got := get(t, a.url(mirror.URL+"/"+pkgDir+name))
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Fatalf("GET: %d, %d bytes; want 200 and the mirror's %d", resp.StatusCode, len(got), len(data))
			}
			if st := a.swarm.Status(); len(st.Torrents) != 0 || st.Totals.Passthrough != int64(len(data)) {
				t.Errorf("the agent took the torrent: %+v; want it refused and the bytes passed through", st)
			}
			for _, d := range []string{"torrents", "data"} {
				if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) != 0 {
					t.Errorf("the store's %s/ holds %d entries, want none", d, len(ents))
				}
			}
		})
	}
}

// TestAbandonedDownload: a download whose request left (the mirror never
// sends its bytes, and dnf gave up) stops once no request or prefetch has
// wanted it for abandonAfter, and its partial file leaves the store:
// nothing downloads for a torrent no one waits for.
func TestAbandonedDownload(t *testing.T) {
	data := bytes.Repeat([]byte("never sent "), 100000)
	const name = "slow-1-1.noarch.rpm"
	info := metainfo.Info{Name: name, Length: int64(len(data)), PieceLength: 256 << 10}
	for off := 0; off < len(data); off += int(info.PieceLength) {
		sum := sha1.Sum(data[off:min(len(data), off+int(info.PieceLength))])
		info.Pieces = append(info.Pieces, sum[:]...)
	}
	ib, _ := bencode.Marshal(info)
	torrent, _ := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib})
	release := make(chan struct{})
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/torrent_service/single/") {
			w.Write(torrent)
			return
		}
		select { // the file's bytes never come
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer mirror.Close()
	defer close(release)
	store := t.TempDir()
	a := startAgent(t, store, []string{mirror.URL})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url(mirror.URL+"/"+pkgDir+name), nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitFor(t, "the request to end", func() bool {
		st := a.swarm.Status()
		return len(st.Torrents) == 1 && st.Torrents[0].Users == 0
	})
	a.swarm.tidy(time.Now())
	if st := a.swarm.Status(); len(st.Torrents) != 1 || st.Torrents[0].State != "downloading" {
		t.Fatalf("right after the request: %+v; want the download going on", st.Torrents)
	}
	a.swarm.tidy(time.Now().Add(abandonAfter + time.Second))
	if st := a.swarm.Status(); len(st.Torrents) != 0 {
		t.Errorf("%v after the request left: %+v; want the download stopped and gone", abandonAfter, st.Torrents)
	}
	for _, d := range []string{"torrents", "data"} {
		if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) != 0 {
			t.Errorf("the store's %s/ holds %d entries, want none", d, len(ents))
		}
	}
}
