package gc_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io/fs"
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

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/gc"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
)

// fixture is a sample mirror and a cache filled by the real service.
type fixture struct {
	t                  *testing.T
	root, cache        string
	pieces, info       string
	svc                *service.Service
	logs               *bytes.Buffer
	digestKey, bootKey string
	globKey            string
}

func pkg(name string) string { return "/yum/el9/x86_64/Packages/" + name }

var somePackages = []string{pkg("exact-3-1.x86_64.rpm"), pkg("one-1.0-1.noarch.rpm"), pkg("several-2.5-1.x86_64.rpm")}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, root: filepath.Join(dir, "www"), cache: filepath.Join(dir, "cache"), logs: new(bytes.Buffer)}
	if err := samplemirror.Create(f.root); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers = f.root, f.cache, filepath.Join(dir, "trackers")
	f.pieces, f.info = cfg.PiecesDir(), cfg.InfoDir()
	f.svc = service.New(cfg, service.Options{Log: slog.New(slog.NewTextHandler(f.logs, nil))})

	f.digestKey = sha1Hex(strings.Join(somePackages, "\n"))
	r := httptest.NewRequest(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+f.digestKey, strings.NewReader(url.Values{"p": somePackages}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	f.serve(r, http.StatusOK)
	f.serve(httptest.NewRequest(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil), http.StatusOK)
	f.serve(httptest.NewRequest(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/el9/x86_64/Packages/p*.rpm", nil), http.StatusOK)
	f.bootKey = infocache.Key("\x00single\nyum/iso/boot.iso")
	// A glob's entry is named by the files it matched (see the service's
	// singleEntry), sorted.
	f.globKey = infocache.Key("\x00single\nyum/el9/x86_64/Packages/piece-1.0-1.x86_64.rpm\nyum/el9/x86_64/Packages/pieceplus-1.0-1.x86_64.rpm")
	for _, key := range []string{f.digestKey, f.bootKey, f.globKey} {
		if _, err := os.Stat(filepath.Join(f.info, key)); err != nil {
			t.Fatalf("the service wrote no info entry %s: %v", key, err)
		}
	}
	return f
}

func (f *fixture) serve(r *http.Request, want int) {
	f.t.Helper()
	w := httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	f.svc.Wait() // its piece cache entries are written after the answer
	if w.Code != want {
		f.t.Fatalf("%s %s: %d, want %d: %s", r.Method, r.URL, w.Code, want, w.Body)
	}
}

func (f *fixture) piece(p string) string {
	return filepath.Join(f.pieces, filepath.FromSlash(strings.TrimPrefix(p, "/")), "1048576")
}

// setUsed sets a cache file's last use, keeping its mtime.
func setUsed(t *testing.T, name string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(name, when, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

func (f *fixture) options(dryRun bool, got *[]string) gc.Options {
	return gc.Options{
		Pieces: f.pieces, Info: f.info, Root: f.root,
		MaxAge: 30 * 24 * time.Hour,
		DryRun: dryRun,
		Log:    slog.New(slog.NewTextHandler(f.logs, nil)),
		Report: func(r gc.Removal) { *got = append(*got, r.Line(dryRun, filepath.Dir(f.pieces))) },
	}
}

func TestGC(t *testing.T) {
	for _, dryRun := range []bool{true, false} {
		name := "remove"
		if dryRun {
			name = "dry run"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			longAgo := time.Now().Add(-40 * 24 * time.Hour)
			recent := time.Now().Add(-10 * 24 * time.Hour)
			// Unused for 40 days: a piece entry and an info entry.
			setUsed(t, f.piece(pkg("several-2.5-1.x86_64.rpm")), longAgo)
			setUsed(t, filepath.Join(f.info, f.bootKey), longAgo)
			// Used 10 days ago: kept.
			setUsed(t, f.piece(pkg("one-1.0-1.noarch.rpm")), recent)
			setUsed(t, filepath.Join(f.info, f.globKey), recent)
			// A package deleted from the mirror: its piece entry and the
			// info entry of the torrent that holds it go.
			if err := os.Remove(filepath.Join(f.root, "yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm")); err != nil {
				t.Fatal(err)
			}
			// Temporary files: an old one goes, a fresh one stays.
			oldTmp := filepath.Join(f.pieces, "yum", ".tmp-1048576-123")
			freshTmp := filepath.Join(f.info, ".tmp-abc-456")
			for _, p := range []string{oldTmp, freshTmp} {
				os.WriteFile(p, []byte("partial"), 0o644)
			}
			twoHours := time.Now().Add(-2 * time.Hour)
			os.Chtimes(oldTmp, twoHours, twoHours)
			// A corrupt info entry goes; files gc does not know stay.
			corrupt := filepath.Join(f.info, sha1Hex("whatever"))
			os.WriteFile(corrupt, []byte("PTIC garbage"), 0o644)
			unknown := []string{filepath.Join(f.info, "README"), filepath.Join(f.pieces, "yum", "notes.txt")}
			for _, p := range unknown {
				os.WriteFile(p, []byte("mine"), 0o644)
			}
			before := snapshot(t, f.cache)

			var lines []string
			res, err := gc.Run(context.Background(), f.options(dryRun, &lines))
			if err != nil {
				t.Fatalf("gc: %v\n%s", err, f.logs)
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			want := []string{
				verb + " pieces/yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm/1048576 (piece entry, 144 B): source file gone",
				verb + " pieces/yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm (empty folder)",
				verb + " pieces/yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm/1048576 (piece entry, 144 B): unused for 40 days",
				verb + " pieces/yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm (empty folder)",
				verb + " pieces/yum/.tmp-1048576-123 (temporary file, 7 B): left over by an interrupted write 2 hours ago",
				verb + " info/" + f.digestKey + " (info entry, ",
				verb + " info/" + f.bootKey + " (info entry, ",
				verb + " info/" + sha1Hex("whatever") + " (info entry, 12 B): corrupt",
			}
			if len(lines) != len(want) {
				t.Fatalf("removals:\n%s\nwant %d", strings.Join(lines, "\n"), len(want))
			}
			for _, w := range want {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
					t.Errorf("no removal %q in:\n%s", w, strings.Join(lines, "\n"))
				}
			}
			for _, l := range lines {
				if strings.Contains(l, f.digestKey) && !strings.HasSuffix(l, "file gone: yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm") {
					t.Errorf("digest entry removed for the wrong reason: %s", l)
				}
				if strings.Contains(l, f.bootKey) && !strings.HasSuffix(l, "unused for 40 days") {
					t.Errorf("boot.iso entry removed for the wrong reason: %s", l)
				}
			}
			if res.Removed != [4]int{2, 3, 1, 2} {
				t.Errorf("removed %v, want 2 piece entries, 3 info entries, 1 temporary file, 2 folders", res.Removed)
			}
			// Kept: the piece entries of one, piece, pieceplus and
			// boot.iso, and the glob's info entry.
			if res.Kept != 5 {
				t.Errorf("kept %d entries, want 5", res.Kept)
			}
			after := snapshot(t, f.cache)
			if dryRun {
				if !maps(before, after) {
					t.Errorf("a dry run changed the cache")
				}
				return
			}
			var freed int64
			for p, fi := range before {
				if _, ok := after[p]; !ok {
					freed += fi.size
				}
			}
			if freed != res.Bytes {
				t.Errorf("%d bytes reported freed, %d bytes gone", res.Bytes, freed)
			}
			for _, p := range append(unknown, freshTmp, f.piece(pkg("one-1.0-1.noarch.rpm")), filepath.Join(f.info, f.globKey)) {
				if !exists(p) {
					t.Errorf("%s removed, want it kept", p)
				}
			}
			// gc's reads did not count as uses.
			if a := after[filepath.Join("info", f.globKey)].used; !a.Equal(recent) {
				t.Errorf("kept info entry's last use moved from %v to %v by gc", recent, a)
			}
			// The service rebuilds what is gone.
			f.serve(httptest.NewRequest(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil), http.StatusOK)
			f.serve(httptest.NewRequest(http.MethodGet, "http://mirror.test/yum/torrent_service/digest/"+f.digestKey, nil), http.StatusPreconditionFailed)
			// A second run has nothing left to remove.
			lines = nil
			res, err = gc.Run(context.Background(), f.options(false, &lines))
			if err != nil || len(lines) != 0 {
				t.Errorf("second run: %v, removals %q", err, lines)
			}
			if !strings.HasPrefix(res.Summary(false), "gc: nothing to remove; kept ") {
				t.Errorf("second run summary %q", res.Summary(false))
			}
		})
	}
}

func TestGCKeepsEntriesOfAnUnmountedMirror(t *testing.T) {
	f := newFixture(t)
	// The mirror's yum/ is not there (not mounted, say): its files look
	// gone, but their entries stay until they age.
	if err := os.Rename(filepath.Join(f.root, "yum"), filepath.Join(f.root, "yum.off")); err != nil {
		t.Fatal(err)
	}
	var lines []string
	res, err := gc.Run(context.Background(), f.options(false, &lines))
	if err != nil || len(lines) != 0 {
		t.Fatalf("gc: %v; removals %q", err, lines)
	}
	if res.Kept == 0 {
		t.Errorf("kept nothing")
	}
	if !strings.Contains(f.logs.String(), "keeping the entries of its files") {
		t.Errorf("no warning about the missing folder:\n%s", f.logs)
	}
}

func TestGCWithoutRootAndMaxAgeZero(t *testing.T) {
	f := newFixture(t)
	os.Remove(filepath.Join(f.root, "yum/iso/boot.iso"))
	var lines []string
	opt := f.options(false, &lines)
	opt.Root = ""
	res, err := gc.Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	// Without the root, a piece entry is judged by its age only; info
	// entries know their root.
	if res.Removed[gc.PieceEntry] != 0 || res.Removed[gc.InfoEntry] != 1 {
		t.Errorf("without root: removed %v, want only boot.iso's info entry", res.Removed)
	}
	opt.MaxAge = 0
	res, err = gc.Run(context.Background(), opt)
	if err != nil || res.Kept != 0 {
		t.Errorf("max age 0: %+v, %v; want every entry removed", res, err)
	}
	for _, dir := range []string{f.pieces, f.info} {
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 0 {
			t.Errorf("%s: %v, %v; want an empty folder, kept", dir, ents, err)
		}
	}
}

func TestGCCancelled(t *testing.T) {
	f := newFixture(t)
	setUsed(t, f.piece(pkg("several-2.5-1.x86_64.rpm")), time.Now().Add(-40*24*time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var lines []string
	if _, err := gc.Run(ctx, f.options(false, &lines)); !errors.Is(err, context.Canceled) || len(lines) != 0 {
		t.Errorf("cancelled: %v, removals %q; want context.Canceled and nothing removed", err, lines)
	}
}

func TestSummary(t *testing.T) {
	r := gc.Result{Removed: [4]int{3, 1, 0, 2}, Bytes: 1234, Kept: 9, KeptBytes: 1024}
	if got, want := r.Summary(false), "gc: removed 3 piece entries, 1 info entry and 2 empty folders, freeing 1.2 KiB (1234 bytes); kept 9 entries (1.0 KiB)"; got != want {
		t.Errorf("summary\n%q, want\n%q", got, want)
	}
	if got := r.Summary(true); !strings.HasPrefix(got, "gc: dry run: would remove 3 piece entries") || !strings.Contains(got, "which would free 1.2 KiB") {
		t.Errorf("dry run summary %q", got)
	}
	if got := (gc.Result{}).Summary(false); got != "gc: nothing to remove; kept 0 entries (0 B)" {
		t.Errorf("empty summary %q", got)
	}
}

type fileState struct {
	dir  bool
	size int64
	used time.Time
	mod  time.Time
}

// snapshot lists every file and folder under dir with its size and times.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	m := make(map[string]fileState)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		st := fileState{dir: d.IsDir(), mod: fi.ModTime(), used: cachefile.LastUsed(fi)}
		if !d.IsDir() {
			st.size = fi.Size()
		}
		m[rel] = st
		return nil
	})
	return m
}

func maps(a, b map[string]fileState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		// A listing may move a folder's atime; a file's must not move.
		if !ok || v.size != w.size || !v.mod.Equal(w.mod) || (!v.dir && !v.used.Equal(w.used)) {
			return false
		}
	}
	return true
}
