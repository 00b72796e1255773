package service

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
)

// infoEntries returns the entries of the info cache folder (not lock or
// temporary files) and the bytes the whole folder takes on disk.
func infoEntries(t *testing.T, dir string) (keys []string, disk int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			continue
		}
		disk += fi.Sys().(*syscall.Stat_t).Blocks * 512
		if len(de.Name()) == 40 {
			keys = append(keys, de.Name())
		}
	}
	return keys, disk
}

// TestGlobTextsShareOneEntry asks for the same files with six glob texts:
// one info cache entry holds their torrent, whatever the text. Before,
// each text made an entry of its own, so that a client inventing patterns
// (*[m<random letters>]) wrote a new one per request (issue 11).
func TestGlobTextsShareOneEntry(t *testing.T) {
	f := newFixture(t, nil)
	var hashes []string
	for _, p := range []string{"*.rpm", "*[m]", "*.rp[m]", "*[mxyz]", "[a-z]*.rpm", "*.rp%3F"} {
		w := f.get("http://mirror.test/yum/torrent_service/single/yum/el9/x86_64/Packages/"+p, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
		m := decodeTorrent(t, w.Body.Bytes())
		if len(hashes) == 0 {
			verifyPieces(t, f.root, "torrent_service", m)
		}
		hashes = append(hashes, m.infoHash)
	}
	if len(slices.Compact(slices.Clone(hashes))) != 1 {
		t.Errorf("six texts of one glob gave info hashes %v, want one", hashes)
	}
	keys, _ := infoEntries(t, filepath.Join(f.cache, "info"))
	if len(keys) != 1 {
		t.Errorf("six texts of one glob left %d info cache entries, want 1: %v", len(keys), keys)
	}
}

// TestInfoCacheBound floods the service with POSTs of new combinations of
// 60 files with long names, whose entries would take about three times the
// info-cache-size: the
// folder stays within the bound (an eighth over it at most, between two
// looks), the least recently used entries go first, so that a client that
// keeps asking for its own torrent meanwhile gets it every time; and
// every entry left is whole and gives the torrent of its files.
func TestInfoCacheBound(t *testing.T) {
	const limit = 1 << 20
	f := newFixture(t, func(c *config.Config) { c.InfoCacheSize = limit })
	dir := filepath.Join(f.root, "yum", "el9", "x86_64", "Packages")
	var all []string
	for i := range 60 {
		name := fmt.Sprintf("flood-%03d-%s-1.0-1.noarch.rpm", i, strings.Repeat("x", 180))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		all = append(all, pkg(name))
	}
	mine := []string{pkg("one-1.0-1.noarch.rpm"), pkg("several-2.5-1.x86_64.rpm")}
	if w := f.post(mine...); w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	want := decodeTorrent(t, f.post(mine...).Body.Bytes()).infoHash
	rng := rand.New(rand.NewPCG(11, 1))
	infoDir := filepath.Join(f.cache, "info")
	peak := int64(0)
	for i := range 60 {
		skip := rng.IntN(len(all))
		combo := slices.Delete(slices.Clone(all), skip, skip+1)
		if w := f.post(combo...); w.Code != http.StatusOK {
			t.Fatalf("flood POST %d: %d %s", i, w.Code, w.Body)
		}
		_, disk := infoEntries(t, infoDir)
		peak = max(peak, disk)
		w := f.get("http://mirror.test/yum/torrent_service/digest/"+digestOf(mine), nil)
		if w.Code != http.StatusOK {
			t.Fatalf("after %d flood POSTs, the other client's GET: %d, want 200", i+1, w.Code)
		}
		if got := decodeTorrent(t, w.Body.Bytes()).infoHash; got != want {
			t.Fatalf("after %d flood POSTs, the other client's torrent has info hash %s, want %s", i+1, got, want)
		}
	}
	// One entry of about 60 KiB may be written past a look.
	if peak > limit+limit/8+64<<10 {
		t.Errorf("the info cache took up to %d bytes on disk, want at most %d and an eighth", peak, limit)
	}
	if f.svc.infoBound.Evicted() == 0 {
		t.Errorf("no entry evicted")
	}
	keys, disk := infoEntries(t, infoDir)
	t.Logf("60 combinations: %d entries left, %d bytes on disk (peak %d), %d evicted", len(keys), disk, peak, f.svc.infoBound.Evicted())
	store := infocache.Store{Dir: infoDir}
	for i, k := range keys {
		e, _, err := store.Load(k)
		if err != nil {
			t.Fatalf("entry %s: %v", k, err)
		}
		if i != 0 && i != len(keys)-1 {
			continue
		}
		var paths []string
		for _, p := range e.Paths {
			paths = append(paths, "/"+p)
		}
		w := f.get("http://mirror.test/yum/torrent_service/digest/"+k, nil)
		if w.Code != http.StatusOK || digestOf(paths) != k {
			t.Fatalf("entry %s: GET %d", k, w.Code)
		}
		verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
	}
}

// TestGlobWalkedOncePerBuild counts the walks of single-mode requests: a
// glob is expanded once to find its entry and build it (not again under
// the lock), not at all when repeated within revalidate, and once again
// after that, when a new match makes a new torrent. A path without
// wildcards is looked up once. Both issue 11 branches moved the lookup of
// a request's files before the info lock; together they must not do it
// twice.
func TestGlobWalkedOncePerBuild(t *testing.T) {
	f := newFixture(t, nil)
	// Entries get their check time from the real clock (their mtime): the
	// test's clock runs ahead of it, so that none is in its future.
	c := &clock{t: time.Now().Add(10 * time.Second)}
	f.svc.now = c.now
	dir := "yum/el9/x86_64/Packages/"
	get := func(pattern string, wantWalks, wantBuilt int64) {
		t.Helper()
		if w := f.do("GET", base+"single/"+dir+pattern, nil); w.Code != http.StatusOK {
			t.Fatalf("GET single/%s%s: %d %s", dir, pattern, w.Code, w.Body)
		}
		if n := f.svc.Stats.Walks.Load(); n != wantWalks {
			t.Errorf("after GET %s: %d walks in all, want %d", pattern, n, wantWalks)
		}
		if n := f.svc.Stats.TorrentsBuilt.Load(); n != wantBuilt {
			t.Errorf("after GET %s: %d torrents built in all, want %d", pattern, n, wantBuilt)
		}
	}
	get("one-1.0-1.noarch.rpm", 1, 1) // a path: looked up once
	get("one-1.0-1.noarch.rpm", 1, 1)
	get("*.rpm", 2, 2)
	get("*.rpm", 2, 2) // within revalidate: neither walked nor built
	get("*[m]", 3, 2)  // a new text is walked, and finds the same entry
	c.add(f.svc.cfg.Revalidate + time.Second)
	get("*.rpm", 4, 2) // expanded again: the same files, unchanged
	if err := os.WriteFile(filepath.Join(f.root, dir, "zz-1.0-1.noarch.rpm"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.add(f.svc.cfg.Revalidate + time.Second)
	get("*.rpm", 5, 3) // a new match: a new torrent, still one walk
}
