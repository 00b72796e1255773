package service

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

func TestBadInput(t *testing.T) {
	f := newFixture(t, nil)
	os.Symlink("/etc/passwd", filepath.Join(f.root, "yum/passwd"))
	os.Symlink("/etc", filepath.Join(f.root, "yum/etc"))
	os.WriteFile(filepath.Join(f.root, "yum/readme.txt"), []byte("x"), 0o644)
	const base = "http://mirror.test/yum/torrent_service/"
	type post struct {
		digest string
		form   url.Values
	}
	paths := func(ps ...string) post { return post{digestOf(ps), url.Values{"p": ps}} }
	for _, tc := range []struct {
		name   string
		method string
		target string
		post   *post
		want   int
	}{
		{"digest not hex", "GET", base + "digest/zz" + strings.Repeat("0", 38), nil, 400},
		{"digest too short", "GET", base + "digest/abc", nil, 400},
		{"unknown digest", "GET", base + "digest/" + strings.Repeat("a", 40), nil, 412},
		{"digest mismatch", "POST", "", &post{strings.Repeat("b", 40), url.Values{"p": {pkg("one-1.0-1.noarch.rpm")}}}, 400},
		{"no p field", "POST", "", &post{strings.Repeat("b", 40), url.Values{"q": {"x"}}}, 400},
		{"two first-level folders", "POST", "", ptr(paths("/other/readme.txt", "/yum/iso/boot.iso")), 400},
		{"file at the top", "POST", "", ptr(paths("/top.txt")), 400},
		{"NUL byte", "POST", "", ptr(paths("/yum/iso/boot\x00.iso")), 400},
		{"posted twice", "POST", "", ptr(paths("/yum/iso/boot.iso", "/yum/iso/boot.iso")), 400},
		{"dot-dot in POST", "POST", "", ptr(paths("/yum/../../etc/passwd")), 403},
		{"missing file in POST", "POST", "", ptr(paths("/yum/iso/missing.iso")), 404},
		{"folder in POST", "POST", "", ptr(paths("/yum/iso")), 404},
		{"symlink out in POST", "POST", "", ptr(paths("/yum/passwd")), 403},
		{"dot-dot in single", "GET", base + "single/yum/%2e%2e/%2e%2e/etc/passwd", nil, 403},
		{"encoded slash dot-dot", "GET", base + "single/yum%2f..%2f..%2fetc%2fpasswd", nil, 403},
		{"backslash", "GET", base + "single/yum\\..\\etc", nil, 403},
		{"symlinked folder out", "GET", base + "single/yum/etc/passwd", nil, 403},
		{"NUL in single", "GET", base + "single/yum/iso/boot%00.iso", nil, 400},
		{"no match", "GET", base + "single/yum/iso/*.img", nil, 404},
		{"missing file", "GET", base + "single/yum/iso/nothing.iso", nil, 404},
		{"folder", "GET", base + "single/yum/iso", nil, 404},
		{"empty single", "GET", base + "single/", nil, 400},
		{"glob over two folders", "GET", base + "single/*/readme.txt", nil, 400},
		{"nullfile too large", "GET", base + "nullfile/1048577_0", nil, 403},
		{"nullfile malformed", "GET", base + "nullfile/abc_0", nil, 400},
		{"nullfile negative", "GET", base + "nullfile/-5_0", nil, 400},
		{"unknown mode", "GET", base + "torrent/x", nil, 404},
		{"not the service", "GET", "http://mirror.test/yum/other/single/x", nil, 404},
		{"PUT", "PUT", base + "digest/" + strings.Repeat("a", 40), nil, 405},
		{"POST to single", "POST", base + "single/yum/iso/boot.iso", nil, 405},
		{"DELETE nullfile", "DELETE", base + "nullfile/5_0", nil, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w *httptest.ResponseRecorder
			if tc.post != nil {
				w = f.do(http.MethodPost, base+"digest/"+tc.post.digest, tc.post.form)
			} else {
				w = f.do(tc.method, tc.target, nil)
			}
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.want, w.Body)
			}
			if tc.want == 412 {
				for k, v := range map[string]string{"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache", "Expires": "0"} {
					if got := w.Header().Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if w.Body.Len() != 0 {
					t.Errorf("412 body %q, want empty", w.Body)
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if body := w.Body.String(); strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") || len(body) < 10 {
				t.Errorf("body %q, want one line saying what was wrong", body)
			}
			if tc.want == 405 && w.Header().Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("bad input logged as an internal error:\n%s", f.logs)
	}
}

func ptr[T any](v T) *T { return &v }

func TestPostBodyTooLarge(t *testing.T) {
	f := newFixture(t, nil)
	big := url.Values{"p": {"/yum/" + strings.Repeat("a", 4<<20)}}
	w := f.do(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+strings.Repeat("a", 40), big)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", w.Code)
	}
}

func TestUppercaseDigest(t *testing.T) {
	f := newFixture(t, nil)
	f.post(somePackages...)
	w := f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/digest/"+strings.ToUpper(digestOf(somePackages)), nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
}

func TestSortedDigestWithUnsortedPost(t *testing.T) {
	f := newFixture(t, nil)
	unsorted := []string{somePackages[2], somePackages[0], somePackages[1]}
	sorted := slices.Sorted(slices.Values(unsorted))
	w := f.do(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+digestOf(sorted), url.Values{"p": unsorted})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	m := decodeTorrent(t, w.Body.Bytes())
	first := m.info["files"].([]any)[0].(map[string]any)["path"].([]any)
	if got := first[len(first)-1]; got != "exact-3-1.x86_64.rpm" {
		t.Errorf("first file %v, want the sorted order's first, exact-3-1.x86_64.rpm", got)
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t, nil)
	for _, target := range []string{
		"http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso",
		"http://mirror.test/yum/torrent_service/nullfile/1000_0",
	} {
		get := f.do(http.MethodGet, target, nil)
		head := f.do(http.MethodHead, target, nil)
		if head.Code != http.StatusOK || head.Body.Len() != 0 {
			t.Errorf("HEAD %s: status %d with %d body bytes, want 200 and none", target, head.Code, head.Body.Len())
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Content-Disposition"} {
			if head.Header().Get(h) != get.Header().Get(h) {
				t.Errorf("HEAD %s: %s = %q, GET gave %q", target, h, head.Header().Get(h), get.Header().Get(h))
			}
		}
	}
}

func TestNullfile(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/nullfile/524165_0", nil)
	if w.Code != 200 || w.Body.Len() != 524165 || !bytes.Equal(w.Body.Bytes(), make([]byte, 524165)) {
		t.Fatalf("status %d, %d bytes; want 200 and 524165 zeros", w.Code, w.Body.Len())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	r := httptest.NewRequest(http.MethodGet, "http://mirror.test/yum/torrent_service/nullfile/1048576_3", nil)
	r.Header.Set("Range", "bytes=1048560-")
	rr := httptest.NewRecorder()
	f.svc.ServeHTTP(rr, r)
	if rr.Code != http.StatusPartialContent || rr.Body.Len() != 16 || rr.Header().Get("Content-Range") != "bytes 1048560-1048575/1048576" {
		t.Errorf("range: status %d, %d bytes, Content-Range %q; want 206, 16, bytes 1048560-1048575/1048576", rr.Code, rr.Body.Len(), rr.Header().Get("Content-Range"))
	}
}

// cgiRequest builds a request the way net/http/cgi and net/http/fcgi do,
// from CGI variables.
func cgiRequest(t *testing.T, env map[string]string) *http.Request {
	t.Helper()
	full := map[string]string{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}
	for k, v := range env {
		full[k] = v
	}
	r, err := cgi.RequestFromMap(full)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = http.NoBody
	return r
}

func TestWebSeedURL(t *testing.T) {
	const single = "/yum/torrent_service/single/yum/iso/boot.iso"
	const multi = "/yum/torrent_service/single/yum/el9/x86_64/Packages/p*.rpm"
	for _, tc := range []struct {
		name    string
		baseURL string
		env     map[string]string
		uri     string
		want    string
	}{
		{"plain", "", map[string]string{"HTTP_HOST": "mirror.test"}, single, "http://mirror.test/yum/iso/"},
		{"multi-file", "", map[string]string{"HTTP_HOST": "mirror.test"}, multi, "http://mirror.test/"},
		{"https", "", map[string]string{"HTTP_HOST": "mirror.test", "HTTPS": "on"}, single, "https://mirror.test/yum/iso/"},
		{"host with port", "", map[string]string{"HTTP_HOST": "mirror.test:8080", "SERVER_PORT": "8080"}, single, "http://mirror.test:8080/yum/iso/"},
		{"port from SERVER_PORT", "", map[string]string{"HTTP_HOST": "mirror.test", "SERVER_PORT": "8080"}, single, "http://mirror.test:8080/yum/iso/"},
		{"default port left out", "", map[string]string{"HTTP_HOST": "mirror.test", "SERVER_PORT": "80"}, single, "http://mirror.test/yum/iso/"},
		{"https default port", "", map[string]string{"HTTP_HOST": "mirror.test", "SERVER_PORT": "443", "HTTPS": "on"}, single, "https://mirror.test/yum/iso/"},
		{"IPv6", "", map[string]string{"HTTP_HOST": "[::1]", "SERVER_PORT": "8080"}, single, "http://[::1]:8080/yum/iso/"},
		{"no Host", "", map[string]string{"SERVER_NAME": "mirror.test", "SERVER_PORT": "80"}, single, "http://mirror.test/yum/iso/"},
		{"base-url", "https://cdn.example.com/mirror/", map[string]string{"HTTP_HOST": "internal:8080"}, single, "https://cdn.example.com/mirror/yum/iso/"},
		{"base-url multi", "https://cdn.example.com", map[string]string{"HTTP_HOST": "internal:8080"}, multi, "https://cdn.example.com/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *config.Config) { c.BaseURL = tc.baseURL })
			env := tc.env
			f.svc.env = func(_ *http.Request, k string) string { return env[k] }
			env["REQUEST_URI"] = tc.uri
			w := httptest.NewRecorder()
			f.svc.ServeHTTP(w, cgiRequest(t, env))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			m := decodeTorrent(t, w.Body.Bytes())
			if got := m.raw["url-list"].([]any)[0].(string); got != tc.want {
				t.Errorf("url-list = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("bad Host", func(t *testing.T) {
		f := newFixture(t, nil)
		r := httptest.NewRequest(http.MethodGet, "http://mirror.test"+single, nil)
		r.Host = "evil/x y"
		w := httptest.NewRecorder()
		f.svc.ServeHTTP(w, r)
		if w.Code != 400 {
			t.Errorf("status %d, want 400", w.Code)
		}
	})
}

func TestDocumentRootFromEnvironment(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Root = "" })
	f.svc.env = func(_ *http.Request, k string) string {
		if k == "DOCUMENT_ROOT" {
			return f.root
		}
		return ""
	}
	if w := f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	f.svc.env = func(*http.Request, string) string { return "" }
	w := f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil)
	if w.Code != 500 || strings.Contains(w.Body.String(), "DOCUMENT_ROOT") {
		t.Errorf("no document root: status %d body %q, want 500 with a generic body", w.Code, w.Body)
	}
	if !strings.Contains(f.logs.String(), "DOCUMENT_ROOT") {
		t.Errorf("the log does not say what is missing:\n%s", f.logs)
	}
}

func TestTrackers(t *testing.T) {
	f := newFixture(t, nil)
	urls := []string{"http://t1.example:6969/announce", "udp://t2.example:6969", "https://t3.example/announce"}
	content := "# trackers\n\n" + urls[0] + "\nftp://nope.example/\n" + urls[1] + "\n  " + urls[2] + "  \nnot a url\n"
	if err := os.WriteFile(f.svc.cfg.Trackers, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	m := decodeTorrent(t, f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil).Body.Bytes())
	// Expected order: by SHA-1 of (URL + info hash hex), recomputed here.
	want := slices.Clone(urls)
	key := func(u string) string { s := sha1.Sum([]byte(u + m.infoHash)); return hex.EncodeToString(s[:]) }
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(key(a), key(b)) })
	var got []string
	for _, tier := range m.raw["announce-list"].([]any) {
		tl := tier.([]any)
		if len(tl) != 1 {
			t.Errorf("tier %v, want one tracker per tier", tl)
		}
		got = append(got, tl[0].(string))
	}
	if !slices.Equal(got, want) {
		t.Errorf("announce-list = %q, want %q", got, want)
	}
	if m.raw["announce"] != want[0] {
		t.Errorf("announce = %q, want %q", m.raw["announce"], want[0])
	}
	for _, bad := range []string{"ftp://nope.example/", "not a url"} {
		if !strings.Contains(f.logs.String(), bad) {
			t.Errorf("skipped line %q not in the log", bad)
		}
	}

	g := newFixture(t, nil) // no trackers file
	m = decodeTorrent(t, g.do(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil).Body.Bytes())
	if _, ok := m.raw["announce-list"]; ok {
		t.Errorf("announce-list without trackers")
	}
	if _, ok := m.raw["announce"]; ok {
		t.Errorf("announce without trackers")
	}
	if !strings.Contains(g.logs.String(), "level=WARN") || !strings.Contains(g.logs.String(), "trackers") {
		t.Errorf("no warning about the missing trackers file:\n%s", g.logs)
	}
}

func TestBuildLogLine(t *testing.T) {
	f := newFixture(t, nil)
	f.post(somePackages...)
	var line string
	for l := range strings.Lines(f.logs.String()) {
		if strings.Contains(l, "torrent built") {
			line = l
		}
	}
	for _, want := range []string{"files=4", "bytes_hashed=6815869", "piece_cache_hits=0", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("build log line %q lacks %q", line, want)
		}
	}
}

// TestDocumentRootsKeptApart serves the same path from two document roots
// (DOCUMENT_ROOT per request) whose files differ, in turns: each answer
// must be the torrent of its own root's file, not an entry cached for the
// other root.
func TestDocumentRootsKeptApart(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Root = "" })
	other := filepath.Join(t.TempDir(), "www")
	if err := samplemirror.Create(other); err != nil {
		t.Fatal(err)
	}
	const rel = "yum/iso/boot.iso"
	if err := os.WriteFile(filepath.Join(other, rel), bytes.Repeat([]byte("other root "), 50000), 0o644); err != nil {
		t.Fatal(err)
	}
	f.svc.env = func(r *http.Request, k string) string {
		if k == "DOCUMENT_ROOT" {
			return r.Header.Get("X-Test-Root")
		}
		return ""
	}
	hashes := map[string]string{}
	for _, root := range []string{f.root, other, f.root, other} {
		w := f.get("http://mirror.test/yum/torrent_service/single/"+rel, map[string]string{"X-Test-Root": root})
		if w.Code != 200 {
			t.Fatalf("root %s: status %d: %s", root, w.Code, w.Body)
		}
		m := decodeTorrent(t, w.Body.Bytes())
		verifyPieces(t, root, "torrent_service", m)
		if h, ok := hashes[root]; ok && h != m.infoHash {
			t.Errorf("root %s: info hash %s, then %s", root, h, m.infoHash)
		}
		hashes[root] = m.infoHash
	}
	if hashes[f.root] == hashes[other] {
		t.Errorf("both roots got info hash %s, for different files", hashes[f.root])
	}
}
