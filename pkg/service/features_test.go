package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

const mount = "http://mirror.test/yum/torrent_service"

// parseMagnet parses a magnet link with net/url, independently of the
// encoder under test.
func parseMagnet(t *testing.T, body string) url.Values {
	t.Helper()
	q, ok := strings.CutPrefix(strings.TrimSuffix(body, "\n"), "magnet:?")
	if !ok || strings.Contains(q, "\n") {
		t.Fatalf("not one magnet line: %q", body)
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatalf("magnet query: %v", err)
	}
	// Every value is percent-encoded: nothing but unreserved bytes and
	// "%XX" may appear in one, and "+" never stands for a space.
	for _, kv := range strings.Split(q, "&") {
		k, val, _ := strings.Cut(kv, "=")
		if k == "xt" {
			continue
		}
		if strings.ContainsFunc(val, func(r rune) bool {
			return !strings.ContainsRune("-._~%", r) && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) {
			t.Errorf("%s value %q is not fully percent-encoded", k, val)
		}
	}
	return v
}

func TestMagnet(t *testing.T) {
	tricky := "yum/el9/x86_64/Packages/a b&c=d+e~f%g.rpm"
	trackers := "http://t1.example/announce?a=1&b=2\nudp://t2.example:6969\n"
	for _, format := range []torrent.Format{torrent.BEP47, torrent.Hybrid} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, func(c *config.Config) { c.Format = format })
			if err := os.WriteFile(filepath.Join(f.root, tricky), []byte("tricky"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(f.svc.cfg.Trackers, []byte(trackers), 0o644)
			for _, tc := range []struct {
				name, torrentURL, magnetURL string
				single                      bool
				dn                          string
			}{
				{"single file", mount + "/single/" + url.PathEscape(tricky), mount + "/magnet/" + url.PathEscape(tricky), true, "a b&c=d+e~f%g.rpm"},
				{"glob", mount + "/single/yum/el9/x86_64/Packages/*.rpm", mount + "/magnet/yum/el9/x86_64/Packages/*.rpm", false, "yum"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tw := f.do(http.MethodGet, tc.torrentURL, nil)
					mw := f.do(http.MethodGet, tc.magnetURL, nil)
					if tw.Code != 200 || mw.Code != 200 {
						t.Fatalf("status %d / %d: %s", tw.Code, mw.Code, mw.Body)
					}
					if ct := mw.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
						t.Errorf("Content-Type %q, want text/plain", ct)
					}
					m := decodeTorrent(t, tw.Body.Bytes())
					v := parseMagnet(t, mw.Body.String())
					want := []string{"urn:btih:" + m.infoHash}
					if format == torrent.Hybrid {
						v2 := sha256.Sum256(rawValue(t, tw.Body.Bytes(), "info"))
						want = append(want, "urn:btmh:1220"+hex.EncodeToString(v2[:]))
					}
					if !slices.Equal(v["xt"], want) {
						t.Errorf("xt = %q, want %q", v["xt"], want)
					}
					if v.Get("dn") != tc.dn || m.info["name"] != tc.dn {
						t.Errorf("dn = %q, torrent name %q, want %q", v.Get("dn"), m.info["name"], tc.dn)
					}
					var tiers []string
					for _, tier := range m.raw["announce-list"].([]any) {
						tiers = append(tiers, tier.([]any)[0].(string))
					}
					if !slices.Equal(v["tr"], tiers) || len(tiers) != 2 {
						t.Errorf("tr = %q, want the torrent's trackers %q", v["tr"], tiers)
					}
					seed := m.raw["url-list"].([]any)[0].(string)
					if tc.single {
						u, err := url.Parse(v.Get("ws"))
						if err != nil || v.Get("ws") != seed+url.PathEscape(tc.dn) || u.Path != "/"+tricky {
							t.Errorf("ws = %q (path %q), want %s + the name, the file's own URL", v.Get("ws"), u.Path, seed)
						}
					} else if v.Has("ws") {
						t.Errorf("ws %q in the magnet of a multi-file torrent", v.Get("ws"))
					}
					// xs names this torrent: fetching it gives the same body.
					xs := v.Get("xs")
					if again := f.do(http.MethodGet, xs, nil); again.Code != 200 || !bytes.Equal(again.Body.Bytes(), tw.Body.Bytes()) {
						t.Errorf("xs %q: status %d, same torrent %v", xs, again.Code, bytes.Equal(again.Body.Bytes(), tw.Body.Bytes()))
					}
				})
			}
			t.Run("digest", func(t *testing.T) {
				paths := []string{pkg("one-1.0-1.noarch.rpm"), "/" + tricky}
				target := mount + "/digest/" + digestOf(paths)
				if w := f.do(http.MethodGet, target+"?format=magnet", nil); w.Code != http.StatusPreconditionFailed {
					t.Fatalf("magnet of an unknown digest: status %d, want 412", w.Code)
				}
				tw := f.post(paths...)
				mw := f.do(http.MethodGet, target+"?format=magnet", nil)
				if tw.Code != 200 || mw.Code != 200 {
					t.Fatalf("status %d / %d: %s", tw.Code, mw.Code, mw.Body)
				}
				m := decodeTorrent(t, tw.Body.Bytes())
				v := parseMagnet(t, mw.Body.String())
				if v["xt"][0] != "urn:btih:"+m.infoHash || v.Get("xs") != target || v.Get("dn") != "yum" {
					t.Errorf("magnet %v, want info hash %s and xs %s", v, m.infoHash, target)
				}
				if w := f.do(http.MethodGet, target+"?format=xml", nil); w.Code != 400 {
					t.Errorf("format=xml: status %d, want 400", w.Code)
				}
			})
		})
	}
}

func TestHTTPCaching(t *testing.T) {
	f := newFixture(t, nil)
	// A still clock: the answer right after the build may be kept for the
	// whole revalidate setting (TestMaxAgeFollowsRevalidation moves it).
	now := time.Now()
	f.svc.now = func() time.Time { return now }
	target := mount + "/single/yum/iso/boot.iso"
	get := func(h map[string]string) *httptest.ResponseRecorder { return f.get(target, h) }
	first := get(nil)
	etag, lm := first.Header().Get("ETag"), first.Header().Get("Last-Modified")
	if first.Code != 200 || etag == "" || lm == "" || strings.HasPrefix(etag, "W/") {
		t.Fatalf("status %d, ETag %q, Last-Modified %q: want 200 and a strong ETag and Last-Modified", first.Code, etag, lm)
	}
	if cc := first.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control %q, want public, max-age=60", cc)
	}
	for _, tc := range []struct {
		name   string
		h      map[string]string
		status int
	}{
		{"If-None-Match", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match list", map[string]string{"If-None-Match": `"x", ` + etag}, 304},
		{"If-None-Match weak", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"If-None-Match *", map[string]string{"If-None-Match": "*"}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `"other"`}, 200},
		{"If-Modified-Since", map[string]string{"If-Modified-Since": lm}, 304},
		{"If-Modified-Since older", map[string]string{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, 200},
		{"If-None-Match wins", map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": lm}, 200},
	} {
		w := get(tc.h)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.status)
		}
		if tc.status == 304 && (w.Body.Len() != 0 || w.Header().Get("ETag") != etag) {
			t.Errorf("%s: 304 with %d body bytes and ETag %q", tc.name, w.Body.Len(), w.Header().Get("ETag"))
		}
		if tc.status == 200 && !bytes.Equal(w.Body.Bytes(), first.Body.Bytes()) {
			t.Errorf("%s: another body", tc.name)
		}
	}
	// The ETag changes with anything in the body: trackers, web seed.
	os.WriteFile(f.svc.cfg.Trackers, []byte("udp://t.example:6969\n"), 0o644)
	f.restart(nil) // the trackers file is checked once a minute
	if w := get(map[string]string{"If-None-Match": etag}); w.Code != 200 || w.Header().Get("ETag") == etag {
		t.Errorf("after a trackers change: status %d, ETag %q; want 200 and a new ETag", w.Code, w.Header().Get("ETag"))
	}
	r := httptest.NewRequest(http.MethodGet, strings.Replace(target, "mirror.test", "other.test", 1), nil)
	w := httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	if w.Header().Get("ETag") == etag || w.Header().Get("ETag") == get(nil).Header().Get("ETag") {
		t.Errorf("another host, same ETag")
	}
	// The 412 stays uncacheable and has no validators.
	w = f.do(http.MethodGet, mount+"/digest/"+strings.Repeat("ab", 20), nil)
	if w.Code != 412 || w.Header().Get("Cache-Control") != "no-cache, no-store, must-revalidate" || w.Header().Get("ETag") != "" {
		t.Errorf("412: status %d, Cache-Control %q, ETag %q", w.Code, w.Header().Get("Cache-Control"), w.Header().Get("ETag"))
	}
	if cc := f.do(http.MethodGet, mount+"/nullfile/100_0", nil).Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=86400") {
		t.Errorf("nullfile Cache-Control %q, want a long max-age", cc)
	}
}

func TestMirrorsAndNodes(t *testing.T) {
	plain := newFixture(t, nil)
	f := newFixture(t, func(c *config.Config) {
		c.Mirrors = []string{"https://b.example/pub/", "http://c.example:8080", "http://mirror.test"}
		c.DHTNodes = []string{"router.example:6881", "[2001:db8::1]:6882"}
	})
	for _, tc := range []struct{ target, dir string }{
		{mount + "/single/yum/iso/boot.iso", "yum/iso/"},
		{mount + "/single/yum/el9/x86_64/Packages/p*.rpm", ""},
	} {
		m := decodeTorrent(t, f.do(http.MethodGet, tc.target, nil).Body.Bytes())
		var seeds []string
		for _, s := range m.raw["url-list"].([]any) {
			seeds = append(seeds, s.(string))
		}
		want := []string{"http://mirror.test/" + tc.dir, "https://b.example/pub/" + tc.dir, "http://c.example:8080/" + tc.dir}
		if !slices.Equal(seeds, want) {
			t.Errorf("url-list = %q, want %q", seeds, want)
		}
		nodes, _ := m.raw["nodes"].([]any)
		if len(nodes) != 2 || nodes[0].([]any)[0] != "router.example" || nodes[0].([]any)[1] != int64(6881) ||
			nodes[1].([]any)[0] != "2001:db8::1" || nodes[1].([]any)[1] != int64(6882) {
			t.Errorf("nodes = %v, want [[router.example 6881] [2001:db8::1 6882]]", nodes)
		}
		if p := decodeTorrent(t, plain.do(http.MethodGet, tc.target, nil).Body.Bytes()); p.infoHash != m.infoHash {
			t.Errorf("mirrors and nodes changed the info hash: %s, want %s", m.infoHash, p.infoHash)
		}
	}
}

func TestRecursiveGlob(t *testing.T) {
	for _, format := range []torrent.Format{torrent.Pkgtorrent, torrent.BEP47} {
		f := newFixture(t, func(c *config.Config) { c.Format = format; c.MaxFiles = 9 })
		os.MkdirAll(filepath.Join(f.root, "yum/el9/.repodata"), 0o755)
		os.WriteFile(filepath.Join(f.root, "yum/el9/.repodata/hidden.xml"), []byte("x"), 0o644)
		w := f.do(http.MethodGet, mount+"/single/yum/**", nil)
		if w.Code != 200 {
			t.Fatalf("%s: status %d: %s", format, w.Code, w.Body)
		}
		// The same as the explicit list of every visible file below yum/,
		// sorted bytewise.
		var paths []string
		for _, sf := range samplemirror.Files {
			if strings.HasPrefix(sf.Path, "yum/") {
				paths = append(paths, "/"+sf.Path)
			}
		}
		slices.Sort(paths)
		p := f.post(paths...)
		if p.Code != 200 {
			t.Fatalf("POST: %d", p.Code)
		}
		if got, want := decodeTorrent(t, w.Body.Bytes()).infoHash, decodeTorrent(t, p.Body.Bytes()).infoHash; got != want {
			t.Errorf("%s: yum/** info hash %s, want that of the sorted list %s", format, got, want)
		}
		verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
		// Bounded like any glob: over max-files is 400.
		f.svc.cfg.MaxFiles = 3
		if w := f.do(http.MethodGet, mount+"/single/**", nil); w.Code != 400 {
			t.Errorf("%s: ** over max-files: status %d, want 400", format, w.Code)
		}
	}
}

// TestSameFilesSameInfo runs two services with separate caches over two
// copies of the mirror in different folders, asked under different hosts
// and mount tops, and checks that every request gives byte-identical info.
func TestSameFilesSameInfo(t *testing.T) {
	cases, _ := loadGolden(t)
	hybrid := loadHybridGolden(t)
	for _, format := range []torrent.Format{torrent.Pkgtorrent, torrent.BEP47, torrent.Hybrid} {
		t.Run(string(format), func(t *testing.T) {
			a := newFixture(t, func(c *config.Config) { c.Format = format })
			b := newFixture(t, func(c *config.Config) {
				c.Format = format
				c.Revalidate = 0
				c.Mirrors = []string{"https://elsewhere.example"}
			})
			// b's mirror lives deeper, in a folder with another name, and
			// its files have other mtimes and inodes.
			deep := filepath.Join(t.TempDir(), "srv", "www data")
			if err := samplemirror.Create(deep); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(filepath.Join(deep, "yum/iso/boot.iso"), time.Now(), time.Now())
			b.svc.cfg.Root = deep
			if a.svc.cfg.Cache == b.svc.cfg.Cache || a.root == deep {
				t.Fatal("the two services share a folder")
			}
			var reqs []struct {
				path  string
				paths []string
			}
			for _, c := range cases {
				reqs = append(reqs, struct {
					path  string
					paths []string
				}{c.Pattern, c.Paths})
			}
			for _, c := range hybrid {
				reqs = append(reqs, struct {
					path  string
					paths []string
				}{c.Pattern, c.Paths})
			}
			for _, rq := range reqs {
				var infos [2][]byte
				for i, fx := range []*fixture{a, b} {
					host := "http://mirror-a.test/yum"
					if i == 1 {
						host = "https://b.example:8443/other"
					}
					var w *httptest.ResponseRecorder
					if rq.paths == nil {
						w = fx.do(http.MethodGet, host+"/torrent_service/single/"+rq.path, nil)
					} else {
						w = fx.do(http.MethodPost, host+"/torrent_service/digest/"+digestOf(rq.paths), url.Values{"p": rq.paths})
					}
					if w.Code != 200 {
						t.Fatalf("%s %v: status %d: %s", rq.path, rq.paths, w.Code, w.Body)
					}
					infos[i] = rawValue(t, w.Body.Bytes(), "info")
				}
				if len(infos[0]) == 0 || !bytes.Equal(infos[0], infos[1]) {
					t.Errorf("%s %v: the two services give different info dicts", rq.path, rq.paths)
				}
			}
		})
	}
}
