package gc_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/gc"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
)

// TestGCPrunesWhitelist: the service lists the info hashes it answers
// with; gc takes off the list those of the entries it removes (and of
// torrents with no entry at all), keeps the others, and changes nothing
// in a dry run.
func TestGCPrunesWhitelist(t *testing.T) {
	dir := t.TempDir()
	root, list := filepath.Join(dir, "www"), filepath.Join(dir, "tracker", "whitelist")
	if err := samplemirror.Create(root); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers, cfg.TrackerWhitelist = root, filepath.Join(dir, "cache"), filepath.Join(dir, "trackers"), list
	logs := new(bytes.Buffer)
	svc := service.New(cfg, service.Options{Log: slog.New(slog.NewTextHandler(logs, nil))})
	boot := magnetHash(t, svc, bootMagnet())
	paths := []string{pkg("one-1.0-1.noarch.rpm"), pkg("several-2.5-1.x86_64.rpm")}
	r := httptest.NewRequest(http.MethodPost, "http://m/yum/torrent_service/digest/"+sha1Hex(strings.Join(paths, "\n"))+"?format=magnet",
		strings.NewReader(url.Values{"p": paths}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	digest := magnetHash(t, svc, r)
	// A hash of a torrent this cache never held.
	stranger := strings.Repeat("ab", 20)
	f, err := os.OpenFile(list, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(stranger + "\n")
	f.Close()
	read := func() []string { return listed(t, list) }
	before := read()
	for _, h := range []string{boot, digest, stranger} {
		if !slices.Contains(before, h) {
			t.Fatalf("whitelist %q lacks %s before gc", before, h)
		}
	}
	// boot.iso is deleted from the mirror: its entry goes.
	if err := os.Remove(filepath.Join(root, "yum/iso/boot.iso")); err != nil {
		t.Fatal(err)
	}
	opt := gc.Options{Pieces: cfg.PiecesDir(), Info: cfg.InfoDir(), Root: root, MaxAge: time.Hour, Whitelist: list, DryRun: true,
		Log: slog.New(slog.NewTextHandler(logs, nil))}
	if _, err := gc.Run(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, before) {
		t.Errorf("a dry run changed the whitelist: %q, was %q", got, before)
	}
	opt.DryRun = false
	res, err := gc.Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []string{digest}) {
		t.Errorf("after gc the whitelist is %q, want only the digest's %s (boot.iso's %s and %s removed)", got, digest, boot, stranger)
	}
	if res.Unlisted != 2 || !strings.Contains(res.Summary(false), "2 info hashes taken off the tracker's whitelist") {
		t.Errorf("Unlisted = %d, summary %q; want 2", res.Unlisted, res.Summary(false))
	}
}

// bootMagnet is a request for the magnet link of boot.iso's single-file
// torrent.
func bootMagnet() *http.Request {
	return httptest.NewRequest(http.MethodGet, "http://m/yum/torrent_service/magnet/yum/iso/boot.iso", nil)
}

// magnetHash has svc answer r, a request for a magnet link, and returns
// the link's v1 info hash.
func magnetHash(t *testing.T, svc *service.Service, r *http.Request) string {
	t.Helper()
	w := httptest.NewRecorder()
	svc.ServeHTTP(w, r)
	svc.Wait() // its piece cache entries are written after the answer
	if w.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", r.Method, r.URL, w.Code, w.Body)
	}
	h, _, _ := strings.Cut(strings.TrimPrefix(w.Body.String(), "magnet:?xt=urn:btih:"), "&")
	return h
}

// listed returns the hashes of the whitelist file list, sorted.
func listed(t *testing.T, list string) []string {
	t.Helper()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	l := strings.Fields(string(b))
	slices.Sort(l)
	return l
}

// TestGCPrunesWhitelistAfterPrivate: once the private setting is on, the
// service lists the private info hash of each torrent it answers with,
// beside the public one it listed before; its info entry now holds the
// private info, so gc keeps the private hash and takes the public one
// off the list.
func TestGCPrunesWhitelistAfterPrivate(t *testing.T) {
	dir := t.TempDir()
	root, list := filepath.Join(dir, "www"), filepath.Join(dir, "whitelist")
	if err := samplemirror.Create(root); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers, cfg.TrackerWhitelist = root, filepath.Join(dir, "cache"), filepath.Join(dir, "trackers"), list
	log := slog.New(slog.DiscardHandler)
	public := magnetHash(t, service.New(cfg, service.Options{Log: log}), bootMagnet())
	cfg.Private = true
	private := magnetHash(t, service.New(cfg, service.Options{Log: log}), bootMagnet())
	if public == private {
		t.Fatalf("boot.iso has the info hash %s with and without the private setting", public)
	}
	both := []string{public, private}
	slices.Sort(both)
	if got := listed(t, list); !slices.Equal(got, both) {
		t.Fatalf("whitelist %q, want the public and the private hash %q", got, both)
	}
	opt := gc.Options{Pieces: cfg.PiecesDir(), Info: cfg.InfoDir(), Root: root, MaxAge: time.Hour, Whitelist: list, Log: log}
	res, err := gc.Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(t, list); !slices.Equal(got, []string{private}) || res.Unlisted != 1 {
		t.Errorf("after gc the whitelist is %q (%d taken off), want only the private hash %s", got, res.Unlisted, private)
	}
}
