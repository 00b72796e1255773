package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPrefetch: a prefetch starts every download at once and answers at
// once; later GETs read what was downloaded, and a file whose SHA-256
// differs from the one given is never handed out whole.
func TestPrefetch(t *testing.T) {
	root := t.TempDir()
	names := []string{"a-1-1.noarch.rpm", "libstdc++-devel-11-1.x86_64.rpm", "c-1.0~rc1-1.noarch.rpm", "bad-1-1.noarch.rpm"}
	files := map[string][]byte{}
	for i, n := range names {
		files[n] = writeRandom(t, root, pkgDir+n, (i+1)<<20+i*1000)
	}
	svc := startMirror(t, root)
	// The mirror through a proxy that counts the torrents asked for.
	var torrentRequests atomic.Int64
	target, _ := url.Parse(svc.base)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/torrent_service/single/") {
			torrentRequests.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	m := &mirror{root: root, base: proxy.URL}
	a := startAgent(t, t.TempDir(), []string{m.base})
	host := strings.TrimPrefix(m.base, "http://")

	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	req := PrefetchRequest{Packages: []PrefetchPackage{
		// As dnf's remote_location gives them: not percent-encoded, the
		// mirror's URL or the agent's own.
		{m.base + "/" + pkgDir + names[0], int64(len(files[names[0]])), sum(files[names[0]])},
		{a.srv.URL + "/m/http/" + host + "/" + pkgDir + names[1], int64(len(files[names[1]])), sum(files[names[1]])},
		{m.base + "/" + pkgDir + names[2], int64(len(files[names[2]])), sum(files[names[2]])},
		{m.base + "/" + pkgDir + names[3], int64(len(files[names[3]])), sum([]byte("not this file"))},
		{"http://example.org/" + pkgDir + names[0], 1, sum(nil)},
		{m.base + "/" + pkgDir + names[0], 1, "abc"},
	}}
	body, _ := json.Marshal(req)
	resp, err := http.Post(a.srv.URL+"/prefetch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ans PrefetchAnswer
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, %v; want 202 and JSON", resp.StatusCode, err)
	}
	if ans.Accepted != 4 || len(ans.Refused) != 2 {
		t.Fatalf("answer %+v: want 4 accepted, the unknown mirror and the bad sha256 refused", ans)
	}

	// The downloads run without any GET.
	waitFor(t, "the prefetched downloads", func() bool {
		st := a.swarm.Status()
		return len(st.Torrents) == 4 && st.Totals.Seeding == 4
	})
	origin := a.swarm.Status().Totals.FromOrigin
	for _, n := range names[:3] {
		resp, got := get(t, a.url(m.base+"/"+pkgDir+n))
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, files[n]) {
			t.Errorf("%s: status %d, %d bytes; want 200 and the mirror's %d", n, resp.StatusCode, len(got), len(files[n]))
		}
	}
	if now := a.swarm.Status().Totals.FromOrigin; now != origin {
		t.Errorf("the GETs fetched %d more bytes from the mirror, want none", now-origin)
	}
	// Nor their torrents: each was asked for once, by the prefetch.
	if n := torrentRequests.Load(); n != 4 {
		t.Errorf("the mirror was asked for %d torrents, want the 4 of the prefetch", n)
	}

	// The file whose digest the caller got wrong, with no repo metadata
	// read: served whole. What a caller posts is never kept, so a local
	// user's wrong digest cannot cut dnf's download short.
	resp, got := get(t, a.url(m.base+"/"+pkgDir+names[3]))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, files[names[3]]) {
		t.Errorf("file a prefetch gave another SHA-256 for: status %d, %d of %d bytes; want all", resp.StatusCode, len(got), len(files[names[3]]))
	}

	for _, bad := range []string{"{", `{"packages": 3}`} {
		resp, err := http.Post(a.srv.URL+"/prefetch", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: status %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestPrefetchWindow: prefetches download prefetchWindow torrents at a
// time, all of them together, each in order; the next starts when one
// ends.
func TestPrefetchWindow(t *testing.T) {
	root := t.TempDir()
	n := prefetchWindow + 4
	var req PrefetchRequest
	files := map[string][]byte{}
	svc := startMirror(t, root)
	// The mirror through a proxy that counts the torrents asked for, and
	// holds back the packages' bytes until release is closed.
	var torrents atomic.Int64
	release := make(chan struct{})
	target, _ := url.Parse(svc.base)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/torrent_service/single/"):
			torrents.Add(1)
		case strings.HasSuffix(r.URL.Path, ".rpm"):
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	for i := range n {
		name := "w" + itoa(int64(i)) + "-1-1.noarch.rpm"
		files[name] = writeRandom(t, root, pkgDir+name, 64<<10+i)
		s := sha256.Sum256(files[name])
		req.Packages = append(req.Packages, PrefetchPackage{proxy.URL + "/" + pkgDir + name, int64(len(files[name])), hex.EncodeToString(s[:])})
	}
	a := startAgent(t, t.TempDir(), []string{proxy.URL})
	// Two prefetches of half the packages each share the window.
	for _, half := range [][]PrefetchPackage{req.Packages[:n/2], req.Packages[n/2:]} {
		body, _ := json.Marshal(PrefetchRequest{half})
		resp, err := http.Post(a.srv.URL+"/prefetch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d, want 202", resp.StatusCode)
		}
	}
	waitFor(t, "the first window's torrents", func() bool { return torrents.Load() >= prefetchWindow })
	time.Sleep(500 * time.Millisecond)
	if got := torrents.Load(); got != prefetchWindow {
		t.Errorf("with no download done, %d torrents were started, want the window's %d", got, prefetchWindow)
	}
	close(release)
	waitFor(t, "every prefetched download", func() bool { return a.swarm.Status().Totals.Seeding == n })
	if got := torrents.Load(); got != int64(n) {
		t.Errorf("%d torrents asked for, want %d", got, n)
	}
}

// TestPrefetchOnlyLocal: a prefetch that a web page could send (another
// Content-Type than JSON, which needs no preflight) or a DNS-rebinding
// page would (a Host that is not loopback) is refused, and starts
// nothing.
func TestPrefetchOnlyLocal(t *testing.T) {
	root := t.TempDir()
	data := writeRandom(t, root, pkgDir+"l-1-1.noarch.rpm", 10<<10)
	m := startMirror(t, root)
	a := startAgent(t, t.TempDir(), []string{m.base})
	s := sha256.Sum256(data)
	body, _ := json.Marshal(PrefetchRequest{[]PrefetchPackage{{m.base + "/" + pkgDir + "l-1-1.noarch.rpm", int64(len(data)), hex.EncodeToString(s[:])}}})
	for _, tc := range []struct {
		name, host, contentType string
		want                    int
	}{
		{"text/plain", "", "text/plain", http.StatusUnsupportedMediaType},
		{"form", "", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"foreign-host", "attacker.example:7881", "application/json", http.StatusForbidden},
		{"local", "", "application/json; charset=utf-8", http.StatusAccepted},
	} {
		req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/prefetch", bytes.NewReader(body))
		req.Header.Set("Content-Type", tc.contentType)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if want := int64(0); tc.want != http.StatusAccepted && a.stats.prefetched.Load() != want {
			t.Errorf("%s: %d packages prefetched, want none", tc.name, a.stats.prefetched.Load())
		}
	}
}
