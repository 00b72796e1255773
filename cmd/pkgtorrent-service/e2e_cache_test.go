package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// e2eTestNginxCache checks the micro-cache of the shipped nginx
// configuration (fastcgi_cache) with real nginx in front of the service:
// what it keeps and for whom, and that it keeps nothing longer than the
// service's revalidate setting allows.
func e2eTestNginxCache(t *testing.T) {
	t.Run("Answers", e2eTestNginxCacheAnswers)
	t.Run("Revalidation", e2eTestNginxCacheRevalidation)
}

// e2eTestNginxCacheAnswers, with revalidate at its default (1m): a
// repeated torrent comes from the cache; the 412 of an unknown digest and
// errors never do; each scheme and Host gets its own url-list; a HEAD
// does not empty a later GET; Range requests are not stored.
func e2eTestNginxCacheAnswers(t *testing.T) {
	mirror := e2eMirror(t)
	s := e2eNginx(t, e2eServerOpts{mirror: mirror})
	newReq := func(method, u, host string, h ...string) *http.Request {
		t.Helper()
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		return req
	}

	// yum-torrent: GET (412), POST, GET. The 412 is never kept.
	paths := []string{"/yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm", "/yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm"}
	u := s.base + e2eMount + "/digest/" + e2eDigest(paths)
	for i := range 2 {
		resp, _, cache := s.logged(t, newReq(http.MethodGet, u, ""))
		if resp.StatusCode != http.StatusPreconditionFailed || cache == "HIT" {
			t.Errorf("GET %s before the POST (%d): %s, cache %s; want 412 from the service", u, i+1, resp.Status, cache)
		}
	}
	form := url.Values{"p": paths}
	post, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, posted, cache := s.logged(t, post)
	s.torrent(t, "POST "+u, resp, posted)
	if cache != "-" {
		t.Errorf("POST %s: cache status %s, want none (POSTs bypass the cache)", u, cache)
	}
	for i, want := range []string{"MISS", "HIT"} {
		resp, body, cache := s.logged(t, newReq(http.MethodGet, u, ""))
		s.torrent(t, "GET "+u+" after the POST", resp, body)
		if !bytes.Equal(body, posted) || cache != want {
			t.Errorf("GET %s after the POST (%d): same torrent %v, cache %s; want the POSTed torrent, cache %s", u, i+1, bytes.Equal(body, posted), cache, want)
		}
		if age := e2eMaxAge(t, resp); age <= 0 || age > 60 {
			t.Errorf("GET %s: Cache-Control %q, want a max-age within the revalidate setting (60 s)", u, resp.Header.Get("Cache-Control"))
		}
	}

	// An error is not kept: the 404 of a file that is not there yet.
	late := "yum/el9/x86_64/Packages/late-1-1.noarch.rpm"
	lateURL := s.base + e2eMount + "/single/" + late
	if resp, body, cache := s.logged(t, newReq(http.MethodGet, lateURL, "")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET %s: %s %q (cache %s), want 404", lateURL, resp.Status, body, cache)
	}
	if err := os.WriteFile(filepath.Join(mirror, late), []byte("late"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body, cache := s.logged(t, newReq(http.MethodGet, lateURL, ""))
	if tt := s.torrent(t, "GET "+lateURL+" once the file is there", resp, body); tt.length != 4 || cache == "HIT" {
		t.Errorf("GET %s once the file is there: length %d, cache %s; want 4 from the service", lateURL, tt.length, cache)
	}

	// Each scheme and Host its own answer, from the cache the second time.
	// (Debian's fastcgi_params passes the Host without its port, and the
	// service takes the port from SERVER_PORT.)
	iso := e2eMount + "/single/yum/iso/boot.iso"
	port := s.base[strings.LastIndex(s.base, ":"):]
	for _, c := range []struct{ base, host, seed string }{
		{s.base, "a.example", "http://a.example" + port + "/yum/iso/"},
		{s.base, "b.example", "http://b.example" + port + "/yum/iso/"},
		{s.base, "", s.base + "/yum/iso/"},
		{s.tlsBase, "", s.tlsBase + "/yum/iso/"},
		{s.base, "a.example", "http://a.example" + port + "/yum/iso/"}, // the first again
	} {
		for i := range 2 {
			resp, body, cache := s.logged(t, newReq(http.MethodGet, c.base+iso, c.host))
			tt := s.torrent(t, "GET "+c.base+iso+" Host "+c.host, resp, body)
			if len(tt.urlList) != 1 || tt.urlList[0] != c.seed {
				t.Errorf("GET %s, Host %q (%d, cache %s): url-list %q, want [%s]", c.base+iso, c.host, i+1, cache, tt.urlList, c.seed)
			}
			if i == 1 && cache != "HIT" {
				t.Errorf("GET %s, Host %q again: cache %s, want HIT", c.base+iso, c.host, cache)
			}
		}
	}

	// A HEAD, cached or not, never stands for a GET.
	pkg := s.base + e2eMount + "/single/yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm"
	for range 2 {
		if resp, body, _ := s.logged(t, newReq(http.MethodHead, pkg, "")); resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s: %s with %d body bytes, want 200 and none", pkg, resp.Status, len(body))
		}
	}
	for i := range 2 {
		resp, body, cache := s.logged(t, newReq(http.MethodGet, pkg, ""))
		if tt := s.torrent(t, "GET "+pkg+" after HEADs", resp, body); tt.length != e2eMirrorFile(t, "yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm") {
			t.Errorf("GET %s after HEADs (%d, cache %s): length %d", pkg, i+1, cache, tt.length)
		}
	}

	// Padding files: a Range answer is not stored to stand for the whole.
	null := s.base + e2eMount + "/nullfile/100_0"
	for _, c := range []struct {
		rng    string
		status int
		n      int
	}{{"bytes=0-9", http.StatusPartialContent, 10}, {"", http.StatusOK, 100}, {"bytes=90-", http.StatusPartialContent, 10}, {"", http.StatusOK, 100}} {
		var h []string
		if c.rng != "" {
			h = []string{"Range", c.rng}
		}
		resp, body, cache := s.logged(t, newReq(http.MethodGet, null, "", h...))
		if resp.StatusCode != c.status || len(body) != c.n || !bytes.Equal(body, make([]byte, c.n)) {
			t.Errorf("GET %s, Range %q (cache %s): %s with %d bytes, want %d with %d zeros", null, c.rng, cache, resp.Status, len(body), c.status, c.n)
		}
	}
}

// e2eTestNginxCacheRevalidation, with revalidate = 2s: a changed file of
// a cached torrent is in the answer once the window has passed, and an
// expired answer whose files did not change costs nginx a conditional
// request that the service answers 304 (REVALIDATED), not the body.
func e2eTestNginxCacheRevalidation(t *testing.T) {
	mirror := e2eMirror(t)
	s := e2eNginx(t, e2eServerOpts{mirror: mirror, settings: []string{"revalidate = 2s"}})
	changed := "/yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm"
	paths := []string{changed, "/yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm"}
	before := s.yumFlow(t, paths)
	if before.files[0].length != 1 {
		t.Fatalf("%s has length %d in the torrent, want 1", changed, before.files[0].length)
	}
	u := s.base + e2eMount + "/digest/" + e2eDigest(paths)
	get := func() (*e2eTorrent, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, body, cache := s.logged(t, req)
		if age := e2eMaxAge(t, resp); age > 2 {
			t.Errorf("GET %s: Cache-Control %q, want a max-age within the revalidate setting (2 s)", u, resp.Header.Get("Cache-Control"))
		}
		return s.torrent(t, "GET "+u, resp, body), cache
	}
	get() // into the cache

	if err := os.WriteFile(filepath.Join(mirror, changed), []byte("12"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Within the window the old torrent may still be served, by nginx or
	// the service; after it, the new one, and never the old one again.
	var after *e2eTorrent
	e2e.Wait(t, "the changed file in the answer through nginx's cache", time.Minute, func() error {
		tt, cache := get()
		if tt.infoHash == before.infoHash {
			return errStill("the torrent from before the change (cache " + cache + ")")
		}
		after = tt
		return nil
	})
	if after.files[0].length != 2 {
		t.Errorf("after the change %s has length %d in the torrent, want 2", changed, after.files[0].length)
	}
	e2e.Wait(t, "an expired answer revalidated with 304 (REVALIDATED)", time.Minute, func() error {
		tt, cache := get()
		if tt.infoHash != after.infoHash {
			t.Fatalf("GET %s: info hash %s after %s (cache %s), want %s", u, tt.infoHash, after.infoHash, cache, after.infoHash)
		}
		if cache == "REVALIDATED" {
			return nil
		}
		return errStill("cache " + cache)
	})
}

type errStill string

func (e errStill) Error() string { return "still " + string(e) }

var e2eMaxAgeRE = regexp.MustCompile(`^public, max-age=([0-9]+)$`)

// e2eMaxAge returns the max-age of a torrent answer's Cache-Control.
func e2eMaxAge(t *testing.T, resp *http.Response) int {
	t.Helper()
	m := e2eMaxAgeRE.FindStringSubmatch(resp.Header.Get("Cache-Control"))
	if m == nil {
		t.Errorf("%s %s: Cache-Control %q, want public, max-age=N", resp.Request.Method, resp.Request.URL, resp.Header.Get("Cache-Control"))
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// logged sends req and returns the response, its body and nginx's cache
// status for it, from the access log line it leaves, which a User-Agent
// of its own tells from the others'.
func (s *e2eServer) logged(t *testing.T, req *http.Request) (*http.Response, []byte, string) {
	t.Helper()
	agent := fmt.Sprintf("e2e-cache-%d", e2eLoggedN.Add(1))
	req.Header.Set("User-Agent", agent)
	resp, body := s.do(t, req)
	var cache string
	// nginx writes the line once the answer is sent: wait for it, and
	// read only whole lines (127.0.0.1 http HIT "GET ..." 200 123 "agent").
	e2e.Wait(t, "the access log line of "+req.Method+" "+req.URL.String(), 10*time.Second, func() error {
		b, err := os.ReadFile(s.accessLog)
		if err != nil {
			return err
		}
		whole := b[:bytes.LastIndexByte(b, '\n')+1]
		for line := range strings.Lines(string(whole)) {
			if f := strings.Fields(line); len(f) > 2 && strings.HasSuffix(strings.TrimSpace(line), `"`+agent+`"`) {
				cache = f[2]
				return nil
			}
		}
		return errStill("no line")
	})
	return resp, body, cache
}

var e2eLoggedN atomic.Int64
