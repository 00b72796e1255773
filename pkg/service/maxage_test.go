package service

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
)

// TestMaxAgeFollowsRevalidation checks that a cache in front of the
// service (nginx's fastcgi_cache) may keep a torrent no longer than the
// service itself would serve it without checking its files: max-age is
// the time left until the entry's next revalidation, for torrents,
// magnet links and 304s, in digest and single mode; no-cache when
// revalidate is 0.
func TestMaxAgeFollowsRevalidation(t *testing.T) {
	f := newFixture(t, nil) // revalidate: the default, 1m
	if f.svc.cfg.Revalidate != time.Minute {
		t.Fatalf("default revalidate %v, want 1m", f.svc.cfg.Revalidate)
	}
	c := &clock{t: time.Now().Truncate(time.Second)}
	f.svc.now = c.now
	key := digestOf(somePackages)
	digest := "http://mirror.test/yum/torrent_service/digest/" + key
	single := "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso"
	get := f.get
	if w := f.post(somePackages...); w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	if w := get(single, nil); w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", single, w.Code, w.Body)
	}
	// The entries' files were last checked at T (their mtime is the time
	// of the last check).
	checked := c.now()
	for _, k := range []string{key, singleKey(t, f)} {
		if err := os.Chtimes(f.svc.infos.Path(k), checked, checked); err != nil {
			t.Fatal(err)
		}
	}
	want := func(when string, cc string) {
		t.Helper()
		for _, target := range []string{digest, single, digest + "?format=magnet", single + "?format=magnet"} {
			w := get(target, nil)
			if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != cc {
				t.Errorf("%s: GET %s: %d, Cache-Control %q, want 200 and %q", when, target, w.Code, w.Header().Get("Cache-Control"), cc)
				continue
			}
			w = get(target, map[string]string{"If-None-Match": w.Header().Get("ETag")})
			if w.Code != http.StatusNotModified || w.Header().Get("Cache-Control") != cc {
				t.Errorf("%s: If-None-Match %s: %d, Cache-Control %q, want 304 and %q", when, target, w.Code, w.Header().Get("Cache-Control"), cc)
			}
		}
	}
	want("at the check", "public, max-age=60")
	c.add(25 * time.Second)
	want("25 s after the check", "public, max-age=35")
	c.add(34*time.Second + 500*time.Millisecond)
	want("59.5 s after the check", "public, max-age=0")
	// Past the window the files are checked again (unchanged): a full
	// window from now.
	c.add(2 * time.Second)
	want("after the revalidation", "public, max-age=60")
	c.add(10 * time.Second)
	want("10 s after the revalidation", "public, max-age=50")

	// An entry file from the future (another host's clock) gives no more
	// than the setting.
	future := c.now().Add(time.Hour)
	if err := os.Chtimes(f.svc.infos.Path(key), future, future); err != nil {
		t.Fatal(err)
	}
	if w := get(digest, nil); w.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("entry checked in the future: Cache-Control %q, want public, max-age=60", w.Header().Get("Cache-Control"))
	}

	// A POST is never cacheable: no Cache-Control.
	if w := f.post(somePackages...); w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "" {
		t.Errorf("POST: %d, Cache-Control %q, want 200 and none", w.Code, w.Header().Get("Cache-Control"))
	}
}

// TestNoCacheWithoutRevalidate checks that with revalidate 0, when every
// request checks the files, no cache may keep an answer.
func TestNoCacheWithoutRevalidate(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Revalidate = 0 })
	if w := f.post(somePackages...); w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	for _, target := range []string{
		"http://mirror.test/yum/torrent_service/digest/" + digestOf(somePackages),
		"http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso",
		"http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso?format=magnet",
	} {
		w := f.do(http.MethodGet, target, nil)
		if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: %d, Cache-Control %q, want 200 and no-cache", target, w.Code, w.Header().Get("Cache-Control"))
		}
	}
}

// singleKey returns the info cache key of the only single-mode entry.
func singleKey(t *testing.T, f *fixture) string {
	t.Helper()
	entries, err := os.ReadDir(f.svc.infos.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		if name := e.Name(); len(name) == 40 && name != digestOf(somePackages) {
			keys = append(keys, name)
		}
	}
	if len(keys) != 1 {
		t.Fatalf("info cache holds %q besides the digest's entry, want one single-mode entry", keys)
	}
	return keys[0]
}
