package service

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
)

// age sets the access time of a cache file to when, keeping its
// modification time, and returns that modification time.
func age(t *testing.T, name string, when time.Time) time.Time {
	t.Helper()
	if err := os.Chtimes(name, when, time.Time{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestServingMarksEntriesUsed(t *testing.T) {
	// Revalidation is kept beyond the ten days, so that only use marks
	// change the entries.
	f := newFixture(t, func(c *config.Config) { c.Revalidate = 1000 * time.Hour })
	if w := f.post(somePackages...); w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	if n := f.svc.Stats.UseMarks.Load(); n != 0 {
		t.Errorf("a freshly built torrent wrote %d use marks, want 0 (its entries were just written)", n)
	}
	info := filepath.Join(f.cache, "info", digestOf(somePackages))
	entries := []string{info}
	for _, p := range somePackages {
		entries = append(entries, filepath.Join(f.cache, "pieces", filepath.FromSlash(p[1:]), "1048576"))
	}
	mtimes := make([]time.Time, len(entries))
	for i, e := range entries {
		mtimes[i] = age(t, e, time.Now())
	}
	// Ten days without a request: the service's clock moves on (the
	// process remembers when it wrote or marked entries, as it would).
	later := func() time.Time { return time.Now().Add(240 * time.Hour) }
	f.svc.now = later
	target := "http://mirror.test/yum/torrent_service/digest/" + digestOf(somePackages)
	if w := f.do(http.MethodGet, target, nil); w.Code != http.StatusOK {
		t.Fatalf("GET: %d", w.Code)
	}
	if n := f.svc.Stats.UseMarks.Load(); n != int64(len(entries)) {
		t.Errorf("GET after ten days wrote %d use marks, want %d (the info entry and each piece entry)", n, len(entries))
	}
	for i, e := range entries {
		fi, err := os.Stat(e)
		if err != nil {
			t.Fatal(err)
		}
		if used := cachefile.LastUsed(fi); later().Sub(used).Abs() > time.Hour {
			t.Errorf("%s: last use %v, want the service's now %v", e, used, later())
		}
		if !fi.ModTime().Equal(mtimes[i]) {
			t.Errorf("%s: mtime moved from %v to %v; it must keep meaning the last check", e, mtimes[i], fi.ModTime())
		}
	}
	// Within the day: nothing more is written, however many requests.
	for range 3 {
		f.do(http.MethodGet, target, nil)
		f.post(somePackages...)
	}
	if n := f.svc.Stats.UseMarks.Load(); n != int64(len(entries)) {
		t.Errorf("requests within a day wrote %d more use marks, want 0", n-int64(len(entries)))
	}
	// A new process reads the mark from the entry's atime.
	f.restart(nil)
	f.svc.now = later
	f.do(http.MethodGet, target, nil)
	if n := f.svc.Stats.UseMarks.Load(); n != 0 {
		t.Errorf("a new process wrote %d use marks within the day, want 0", n)
	}
}

func TestServingMarksSingleMode(t *testing.T) {
	f := newFixture(t, nil)
	target := "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso"
	if w := f.do(http.MethodGet, target, nil); w.Code != http.StatusOK {
		t.Fatalf("GET: %d", w.Code)
	}
	piece := filepath.Join(f.cache, "pieces", "yum", "iso", "boot.iso", "1048576")
	old := time.Now().Add(-48 * time.Hour)
	age(t, piece, old)
	// The info entry was marked recently: the piece entry waits for the
	// info entry's next mark.
	f.do(http.MethodGet, target, nil)
	if fi, _ := os.Stat(piece); time.Since(cachefile.LastUsed(fi)) < 24*time.Hour {
		t.Errorf("piece entry marked although its info entry's mark is fresh: one stat per file per request")
	}
	matches, _ := filepath.Glob(filepath.Join(f.cache, "info", "[0-9a-f]*[0-9a-f]"))
	if len(matches) != 1 {
		t.Fatalf("info entries %q, want one", matches)
	}
	// Two days later, the info entry is marked again, and the piece
	// entry with it.
	later := time.Now().Add(48 * time.Hour)
	f.svc.now = func() time.Time { return later }
	f.do(http.MethodHead, target, nil)
	if fi, _ := os.Stat(piece); later.Sub(cachefile.LastUsed(fi)).Abs() > time.Hour {
		t.Errorf("piece entry not marked with its info entry")
	}
}
