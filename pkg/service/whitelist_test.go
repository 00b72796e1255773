package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// whitelisted reads the whitelist file as opentracker does: one hash a
// line.
func whitelisted(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("whitelist: %v", err)
	}
	return strings.Fields(string(b))
}

// TestTrackerWhitelist: every torrent answered (single file, digest,
// magnet) has its info hash on the tracker's whitelist, recomputed here
// from the torrent's bytes; a hybrid torrent also its truncated v2 hash.
func TestTrackerWhitelist(t *testing.T) {
	for _, format := range []torrent.Format{torrent.BEP47, torrent.Hybrid} {
		t.Run(string(format), func(t *testing.T) {
			list := filepath.Join(t.TempDir(), "tracker", "whitelist")
			f := newFixture(t, func(c *config.Config) {
				c.TrackerWhitelist = list
				c.Format = format
			})
			w := f.get("http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET single: %d %s", w.Code, w.Body)
			}
			single := decodeTorrent(t, w.Body.Bytes())
			want := []string{single.infoHash}
			if format == torrent.Hybrid {
				body := w.Body.Bytes()
				start := bytes.Index(body, []byte("4:infod")) + len("4:info")
				v2 := sha256.Sum256(body[start : start+valueLen(t, body[start:])])
				want = append(want, hex.EncodeToString(v2[:20]))
			}
			slices.Sort(want)
			if got := whitelisted(t, list); !slices.Equal(got, want) {
				t.Errorf("after GET single, whitelist = %q, want %q", got, want)
			}

			paths := []string{pkg("one-1.0-1.noarch.rpm"), pkg("several-2.5-1.x86_64.rpm")}
			if w := f.post(paths...); w.Code != http.StatusOK {
				t.Fatalf("POST digest: %d %s", w.Code, w.Body)
			} else {
				want = append(want, decodeTorrent(t, w.Body.Bytes()).infoHash)
			}
			if got := whitelisted(t, list); !slices.Contains(got, want[len(want)-1]) {
				t.Errorf("after POST digest, whitelist = %q, want it to hold %s", got, want[len(want)-1])
			}

			// The magnet link of a torrent not answered before.
			w = f.get("http://mirror.test/yum/torrent_service/magnet/yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET magnet: %d %s", w.Code, w.Body)
			}
			btih, _, _ := strings.Cut(strings.TrimPrefix(w.Body.String(), "magnet:?xt=urn:btih:"), "&")
			if got := whitelisted(t, list); !slices.Contains(got, btih) {
				t.Errorf("after GET magnet, whitelist = %q, want it to hold %s", got, btih)
			}
		})
	}
}

// TestTrackerWhitelistUnwritable: a whitelist that cannot be written is
// logged, and the torrent is still answered.
func TestTrackerWhitelistUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *config.Config) { c.TrackerWhitelist = filepath.Join(blocker, "whitelist") })
	w := f.get("http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET single with an unwritable whitelist: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(f.logs.String(), "whitelist was not updated") {
		t.Errorf("no warning about the whitelist in the log:\n%s", f.logs)
	}
}
