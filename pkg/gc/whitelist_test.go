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
	serve := func(r *http.Request) string {
		t.Helper()
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", r.Method, r.URL, w.Code, w.Body)
		}
		return w.Body.String()
	}
	btih := func(magnet string) string {
		h, _, _ := strings.Cut(strings.TrimPrefix(magnet, "magnet:?xt=urn:btih:"), "&")
		return h
	}
	boot := btih(serve(httptest.NewRequest(http.MethodGet, "http://m/yum/torrent_service/magnet/yum/iso/boot.iso", nil)))
	paths := []string{pkg("one-1.0-1.noarch.rpm"), pkg("several-2.5-1.x86_64.rpm")}
	r := httptest.NewRequest(http.MethodPost, "http://m/yum/torrent_service/digest/"+sha1Hex(strings.Join(paths, "\n"))+"?format=magnet",
		strings.NewReader(url.Values{"p": paths}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	digest := btih(serve(r))
	// A hash of a torrent this cache never held.
	stranger := strings.Repeat("ab", 20)
	f, err := os.OpenFile(list, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(stranger + "\n")
	f.Close()
	read := func() []string {
		b, err := os.ReadFile(list)
		if err != nil {
			t.Fatal(err)
		}
		l := strings.Fields(string(b))
		slices.Sort(l)
		return l
	}
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
