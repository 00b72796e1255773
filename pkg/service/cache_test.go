package service

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

var somePackages = []string{
	pkg("exact-3-1.x86_64.rpm"),
	pkg("one-1.0-1.noarch.rpm"),
	pkg("pieceplus-1.0-1.x86_64.rpm"),
	pkg("several-2.5-1.x86_64.rpm"),
}

func sumSizes(paths []string) int64 {
	var n int64
	for _, p := range paths {
		n += sampleSize(p)
	}
	return n
}

// stats returns the counters as plain numbers.
func (f *fixture) stats() (hashed, built, hits int64) {
	return f.svc.Stats.BytesHashed.Load(), f.svc.Stats.TorrentsBuilt.Load(), f.svc.Stats.PieceCacheHits.Load()
}

// restart replaces the service by a new one over the same cache, as a new
// CGI process or a restarted daemon would be.
func (f *fixture) restart(edit func(*config.Config)) {
	cfg := f.svc.cfg
	if edit != nil {
		edit(&cfg)
	}
	f.svc.Wait()
	f.svc = New(cfg, Options{Log: f.svc.log})
}

func TestRepeatedDigestHashesNothing(t *testing.T) {
	f := newFixture(t, nil)
	first := f.post(somePackages...)
	if first.Code != http.StatusOK {
		t.Fatalf("POST: status %d, want 200: %s", first.Code, first.Body)
	}
	if hashed, built, _ := f.stats(); hashed != sumSizes(somePackages) || built != 1 {
		t.Fatalf("first POST hashed %d bytes and built %d torrents, want %d and 1", hashed, built, sumSizes(somePackages))
	}
	target := "http://mirror.test/yum/torrent_service/digest/" + digestOf(somePackages)
	for _, step := range []string{"same process", "new process"} {
		if step == "new process" {
			f.restart(nil)
		}
		before, builtBefore, _ := f.stats()
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var w = f.do(method, target, nil)
			if method == http.MethodPost {
				w = f.post(somePackages...)
			}
			if w.Code != http.StatusOK {
				t.Fatalf("%s %s: status %d, want 200", step, method, w.Code)
			}
			if w.Body.String() != first.Body.String() {
				t.Errorf("%s %s: another torrent than the first", step, method)
			}
		}
		if hashed, built, _ := f.stats(); hashed != before || built != builtBefore {
			t.Errorf("%s: repeated requests hashed %d bytes and built %d torrents, want none", step, hashed-before, built-builtBefore)
		}
	}

	// A new combination of the same files builds a torrent from the piece
	// cache without hashing anything.
	f.restart(nil)
	subset := somePackages[1:3]
	if w := f.post(subset...); w.Code != http.StatusOK {
		t.Fatalf("subset POST: status %d", w.Code)
	}
	if hashed, built, hits := f.stats(); hashed != 0 || built != 1 || hits != int64(len(subset)) {
		t.Errorf("new combination: hashed %d bytes, built %d, %d piece cache hits; want 0, 1, %d", hashed, built, hits, len(subset))
	}
}

func TestChangedFileInvalidates(t *testing.T) {
	changed := pkg("pieceplus-1.0-1.x86_64.rpm")
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, name string)
	}{
		{"size", func(t *testing.T, name string) {
			fd, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fd.Write([]byte("x"))
			fd.Close()
			// Same mtime as before: only the size tells.
			os.Chtimes(name, time.Unix(1700000000, 0), time.Unix(1700000000, 0))
		}},
		{"mtime", func(t *testing.T, name string) {
			// Same size, other bytes, other mtime.
			fd, err := os.OpenFile(name, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fd.WriteAt([]byte("changed"), 0)
			fd.Close()
			os.Chtimes(name, time.Unix(1700000100, 0), time.Unix(1700000100, 0))
		}},
		{"replaced", func(t *testing.T, name string) {
			// Same size and mtime, other bytes, other inode: rsync's
			// rename into place with --times.
			b, _ := os.ReadFile(name)
			b[0] ^= 0xff
			tmp := name + ".tmp"
			os.WriteFile(tmp, b, 0o644)
			os.Chtimes(tmp, time.Unix(1700000000, 0), time.Unix(1700000000, 0))
			if err := os.Rename(tmp, name); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *config.Config) { c.Revalidate = 0 })
			first := f.post(somePackages...)
			if first.Code != http.StatusOK {
				t.Fatalf("POST: status %d", first.Code)
			}
			tc.change(t, filepath.Join(f.root, changed))
			hashedBefore, _, _ := f.stats()
			w := f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/digest/"+digestOf(somePackages), nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET after change: status %d", w.Code)
			}
			if w.Body.String() == first.Body.String() {
				t.Fatalf("GET after the file changed served the old torrent")
			}
			fi, _ := os.Stat(filepath.Join(f.root, changed))
			if hashed, _, _ := f.stats(); hashed-hashedBefore != fi.Size() {
				t.Errorf("rebuild hashed %d bytes, want %d (the changed file only)", hashed-hashedBefore, fi.Size())
			}
			verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
		})
	}
}

func TestRevalidateInterval(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Revalidate = time.Hour })
	target := "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso"
	first := f.do(http.MethodGet, target, nil)
	name := filepath.Join(f.root, "yum/iso/boot.iso")
	if err := os.WriteFile(name, []byte("new content"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Checked less than an hour ago: served from the cache unchecked.
	if w := f.do(http.MethodGet, target, nil); w.Body.String() != first.Body.String() {
		t.Fatalf("within the revalidate interval the torrent was rebuilt")
	}
	// Pretend the last check was two hours ago.
	key := infocache.Key(singlePrefix + "yum/iso/boot.iso")
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(f.cache, "info", key), old, old); err != nil {
		t.Fatal(err)
	}
	w := f.do(http.MethodGet, target, nil)
	if w.Body.String() == first.Body.String() {
		t.Fatalf("after the revalidate interval the changed file's old torrent was served")
	}
	m := decodeTorrent(t, w.Body.Bytes())
	if m.info["length"].(int64) != int64(len("new content")) {
		t.Errorf("length = %d, want %d", m.info["length"], len("new content"))
	}
	verifyPieces(t, f.root, "torrent_service", m)

	// An unchanged file is checked and its entry's check time moved on.
	os.Chtimes(filepath.Join(f.cache, "info", key), old, old)
	if _, built, _ := f.stats(); built != 2 {
		t.Fatalf("built %d torrents, want 2", built)
	}
	f.do(http.MethodGet, target, nil)
	if _, built, _ := f.stats(); built != 2 {
		t.Errorf("revalidating an unchanged file rebuilt the torrent")
	}
	fi, err := os.Stat(filepath.Join(f.cache, "info", key))
	if err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Errorf("entry's check time not moved forward: %v, %v", fi.ModTime(), err)
	}
}

func TestGlobRevalidationSeesNewFiles(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Revalidate = 0 })
	target := "http://mirror.test/yum/torrent_service/single/yum/el9/x86_64/Packages/p*.rpm"
	first := decodeTorrent(t, f.do(http.MethodGet, target, nil).Body.Bytes())
	if n := len(first.info["files"].([]any)); n != 2 {
		t.Fatalf("%d entries, want 2 (no padding: piece is exactly one piece)", n)
	}
	os.WriteFile(filepath.Join(f.root, "yum/el9/x86_64/Packages/pnew-1-1.noarch.rpm"), []byte("new"), 0o644)
	second := decodeTorrent(t, f.do(http.MethodGet, target, nil).Body.Bytes())
	var names []string
	for _, e := range second.info["files"].([]any) {
		p := e.(map[string]any)["path"].([]any)
		names = append(names, p[len(p)-1].(string))
	}
	want := []string{"piece-1.0-1.x86_64.rpm", "pieceplus-1.0-1.x86_64.rpm", "1048575_0", "pnew-1-1.noarch.rpm"}
	if len(names) != len(want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("entry %d = %q, want %q", i, names[i], want[i])
		}
	}
	verifyPieces(t, f.root, "torrent_service", second)
}

func TestCorruptPieceCacheIsRebuilt(t *testing.T) {
	victim := pkg("several-2.5-1.x86_64.rpm")
	for _, tc := range []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"bit flip in a digest", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-7] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"foreign", func(b []byte) []byte { return []byte("not a piece cache file at all, just text\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if w := f.post(somePackages...); w.Code != http.StatusOK {
				t.Fatalf("POST: %d", w.Code)
			}
			entry := filepath.Join(f.cache, "pieces", filepath.FromSlash(victim[1:]), "1048576")
			b, err := os.ReadFile(entry)
			if err != nil {
				t.Fatalf("piece cache entry missing: %v", err)
			}
			orig := string(b)
			if err := os.WriteFile(entry, tc.corrupt(b), 0o644); err != nil {
				t.Fatal(err)
			}
			f.restart(nil)
			subset := []string{pkg("one-1.0-1.noarch.rpm"), victim}
			w := f.post(subset...)
			if w.Code != http.StatusOK {
				t.Fatalf("POST after corruption: %d %s", w.Code, w.Body)
			}
			if hashed, _, hits := f.stats(); hashed != sampleSize(victim) || hits != 1 {
				t.Errorf("hashed %d bytes with %d cache hits, want %d bytes (the corrupt entry's file) and 1 hit", hashed, hits, sampleSize(victim))
			}
			verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
			b2, _ := os.ReadFile(entry)
			if string(b2) != orig {
				t.Errorf("the rebuilt entry differs from the original one")
			}
		})
	}
}

func TestCorruptInfoCacheIsNotTrusted(t *testing.T) {
	f := newFixture(t, nil)
	first := f.post(somePackages...)
	entry := filepath.Join(f.cache, "info", digestOf(somePackages))
	b, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	os.WriteFile(entry, b, 0o644)
	target := "http://mirror.test/yum/torrent_service/digest/" + digestOf(somePackages)
	if w := f.do(http.MethodGet, target, nil); w.Code != http.StatusPreconditionFailed {
		t.Fatalf("GET with a corrupt entry: status %d, want 412", w.Code)
	}
	w := f.post(somePackages...)
	if w.Code != http.StatusOK || w.Body.String() != first.Body.String() {
		t.Fatalf("POST after corruption: status %d, same torrent %v", w.Code, w.Body.String() == first.Body.String())
	}
	if w := f.do(http.MethodGet, target, nil); w.Code != http.StatusOK {
		t.Errorf("GET after the rebuild: status %d, want 200", w.Code)
	}
}

// TestFilledPieceCacheMatchesGolden builds every golden digest case a second
// time from a filled piece cache and a cold info cache: the digests from the
// cache must give the same info hash as hashing (the original service got
// this wrong for files whose size is a multiple of the piece length).
func TestFilledPieceCacheMatchesGolden(t *testing.T) {
	cases, want := loadGolden(t)
	for _, format := range []torrent.Format{torrent.Pkgtorrent, torrent.BEP47} {
		f := newFixture(t, func(c *config.Config) { c.Format = format })
		// Fill the piece cache with every file.
		var all []string
		for _, sf := range []string{"empty-0-1.noarch.rpm", "one-1.0-1.noarch.rpm", "piece-1.0-1.x86_64.rpm",
			"pieceplus-1.0-1.x86_64.rpm", "several-2.5-1.x86_64.rpm", "exact-3-1.x86_64.rpm",
			"libstdc++-devel-11.4.1-2.el9.x86_64.rpm", "tilde-1.0~rc1-1.noarch.rpm"} {
			all = append(all, pkg(sf))
		}
		all = append(all, "/yum/iso/boot.iso")
		if w := f.post(all...); w.Code != http.StatusOK {
			t.Fatalf("filling POST: %d %s", w.Code, w.Body)
		}
		for _, c := range cases {
			if c.Mode != "digest" || c.Format != string(format) {
				continue
			}
			os.Remove(filepath.Join(f.cache, "info", c.Digest))
			hashedBefore, _, _ := f.stats()
			w := f.post(c.Paths...)
			if w.Code != http.StatusOK {
				t.Fatalf("%s: status %d", c.Name, w.Code)
			}
			if hashed, _, _ := f.stats(); hashed != hashedBefore {
				t.Errorf("%s: hashed %d bytes with a filled piece cache", c.Name, hashed-hashedBefore)
			}
			if got := decodeTorrent(t, w.Body.Bytes()).infoHash; got != want[c.Name].InfoHash {
				t.Errorf("%s: info hash from cached digests = %s, want %s", c.Name, got, want[c.Name].InfoHash)
			}
		}
	}
}

func TestSettingsChangeRebuilds(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Format = torrent.Pkgtorrent })
	a := decodeTorrent(t, f.post(somePackages...).Body.Bytes())
	f.restart(func(c *config.Config) { c.Format = torrent.BEP47 })
	w := f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/digest/"+digestOf(somePackages), nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET after the format changed: status %d", w.Code)
	}
	b := decodeTorrent(t, w.Body.Bytes())
	if a.infoHash == b.infoHash {
		t.Errorf("format changed, info hash did not: the old format's entry was served")
	}
	for _, e := range b.info["files"].([]any) {
		fe := e.(map[string]any)
		p := fe["path"].([]any)
		if p[0] == "torrent_service" && fe["attr"] != "p" {
			t.Errorf("padding entry %v without attr p after switching to bep47", p)
		}
	}
}

// TestMemEntryFollowsItsFile serves a digest from memory after the first
// GET, and stops doing so as soon as the entry's file changes: another
// process may have rebuilt or damaged it.
func TestMemEntryFollowsItsFile(t *testing.T) {
	f := newFixture(t, nil)
	first := f.post(somePackages...)
	target := "http://mirror.test/yum/torrent_service/digest/" + digestOf(somePackages)
	for i := range 3 {
		w := f.do(http.MethodGet, target, nil)
		if w.Code != http.StatusOK || w.Body.String() != first.Body.String() {
			t.Fatalf("GET %d: status %d, same torrent as the POST %v", i, w.Code, w.Body.String() == first.Body.String())
		}
		if w.Header().Get("ETag") != first.Header().Get("ETag") {
			t.Errorf("GET %d: ETag %s, want %s", i, w.Header().Get("ETag"), first.Header().Get("ETag"))
		}
	}
	if me := f.svc.entries.byKey[digestOf(somePackages)]; me == nil || len(me.answers) != 1 {
		t.Fatalf("after three GETs the entry and one body should be in memory, got %+v", me)
	}
	entry := filepath.Join(f.cache, "info", digestOf(somePackages))
	b, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(entry, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if w := f.do(http.MethodGet, target, nil); w.Code != http.StatusPreconditionFailed {
		t.Errorf("GET after the entry file was damaged: status %d, want 412 (the memory copy must not be used)", w.Code)
	}
}
