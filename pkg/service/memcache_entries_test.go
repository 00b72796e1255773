package service

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
)

// TestEntryCacheHitKeepsMarksRevalidateAndETag checks that a torrent answered
// from memory behaves as one read from disk: If-None-Match gives 304, the
// revalidate interval is that of the entry's file, and the use marks are
// written at most once a day, the piece entries' too after a revalidation.
func TestEntryCacheHitKeepsMarksRevalidateAndETag(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Revalidate = time.Hour })
	now := time.Now()
	f.svc.now = func() time.Time { return now }
	key := digestOf(somePackages)
	target := "http://mirror.test/yum/torrent_service/digest/" + key
	get := func(h map[string]string) *httptest.ResponseRecorder { return f.get(target, h) }
	first := f.post(somePackages...)
	if first.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", first.Code, first.Body)
	}
	get(nil) // reads the entry into memory
	me := f.svc.entries.byKey[key]
	if me == nil {
		t.Fatal("entry not kept in memory after a GET")
	}
	etag := first.Header().Get("ETag")
	if w := get(nil); w.Code != http.StatusOK || w.Body.String() != first.Body.String() || w.Header().Get("ETag") != etag {
		t.Fatalf("GET from memory: status %d, same body %v, ETag %q want %q", w.Code, w.Body.String() == first.Body.String(), w.Header().Get("ETag"), etag)
	}
	if w := get(map[string]string{"If-None-Match": etag}); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match from memory: status %d with %d body bytes, want 304 and none", w.Code, w.Body.Len())
	}
	if w := get(map[string]string{"If-None-Match": `"other"`}); w.Code != http.StatusOK {
		t.Errorf("another If-None-Match from memory: status %d, want 200", w.Code)
	}
	if f.svc.entries.byKey[key] != me {
		t.Fatal("the requests above read the entry again instead of using memory")
	}
	if n := f.svc.Stats.UseMarks.Load(); n != 0 {
		t.Errorf("%d use marks within the day of the build, want 0", n)
	}

	// A file changes: within the hour the memory copy is served unchecked,
	// after it the change is seen and the torrent rebuilt.
	if err := os.WriteFile(filepath.Join(f.root, somePackages[1][1:]), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Minute)
	if w := get(nil); w.Body.String() != first.Body.String() {
		t.Fatal("within the revalidate interval the torrent was rebuilt")
	}
	// 25 hours later: revalidated (and rebuilt), so a new entry file.
	now = now.Add(25 * time.Hour)
	second := get(nil)
	if second.Code != http.StatusOK || second.Body.String() == first.Body.String() {
		t.Fatalf("after the revalidate interval: status %d, same torrent %v; want the changed file's", second.Code, second.Body.String() == first.Body.String())
	}
	if w := get(map[string]string{"If-None-Match": etag}); w.Code != http.StatusOK {
		t.Errorf("old ETag after the rebuild: status %d, want 200", w.Code)
	}
	if w := get(map[string]string{"If-None-Match": second.Header().Get("ETag")}); w.Code != http.StatusNotModified {
		t.Errorf("new ETag from memory: status %d, want 304", w.Code)
	}

	// Another 25 hours: the unchanged files are revalidated (Touch) and
	// every entry, piece entries included, is marked once; the requests
	// that follow, from memory, write nothing more.
	marks := f.svc.Stats.UseMarks.Load()
	now = now.Add(25 * time.Hour)
	if w := get(nil); w.Code != http.StatusOK {
		t.Fatalf("GET: %d", w.Code)
	}
	if n := f.svc.Stats.UseMarks.Load() - marks; n != int64(len(somePackages)) {
		t.Errorf("GET after a day wrote %d use marks, want %d (the piece entries; the info entry's came with its Touch)", n, len(somePackages))
	}
	marks = f.svc.Stats.UseMarks.Load()
	for range 3 {
		get(nil)
		get(map[string]string{"If-None-Match": second.Header().Get("ETag")})
	}
	if n := f.svc.Stats.UseMarks.Load() - marks; n != 0 {
		t.Errorf("requests from memory within the day wrote %d more use marks, want 0", n)
	}
	if f.svc.entries.byKey[key] == nil {
		t.Error("entry not in memory any more")
	}
}
