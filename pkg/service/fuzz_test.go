package service

import (
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// fuzzService returns a service over the sample mirror with the hostile
// additions of plantHostile, logging nowhere. The seed corpora are under
// testdata/fuzz/; `make fuzz` runs each target for longer.
func fuzzService(f *testing.F) (svc *Service, root, secret string) {
	f.Helper()
	dir := f.TempDir()
	root = filepath.Join(dir, "www")
	if err := samplemirror.Create(root); err != nil {
		f.Fatal(err)
	}
	secret = plantHostile(f, root)
	cfg := config.Default()
	cfg.Root = root
	cfg.Cache = filepath.Join(dir, "cache")
	cfg.Trackers = filepath.Join(dir, "trackers")
	cfg.MaxFiles = 100
	cfg.MaxWalk = 1000
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	svc = New(cfg, Options{Log: slog.New(slog.DiscardHandler)})
	f.Cleanup(svc.Wait)
	return svc, root, secret
}

// FuzzServeSingle sends an arbitrary path after single/, both as the raw
// text of a request target and as an already decoded path. The service
// must never answer 5xx (a panic becomes a 500), and a torrent must name
// only files inside the root, with the right pieces.
func FuzzServeSingle(f *testing.F) {
	svc, root, secret := fuzzService(f)
	f.Fuzz(func(t *testing.T, arg string) {
		var reqs []*http.Request
		if u, err := url.Parse(mount + "single/" + arg); err == nil {
			r := httptest.NewRequest(http.MethodGet, "http://mirror.test/", nil)
			r.URL = u
			reqs = append(reqs, r)
		}
		r := httptest.NewRequest(http.MethodGet, "http://mirror.test/", nil)
		r.URL.Path = "/yum/torrent_service/single/" + arg
		reqs = append(reqs, r)
		for _, r := range reqs {
			w := httptest.NewRecorder()
			svc.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("path %q: status %d: %s", r.URL.Path, w.Code, w.Body)
			}
			if w.Code == http.StatusOK {
				checkInside(t, root, secret, w.Body.Bytes())
			}
		}
	})
}

// FuzzPostDigest posts an arbitrary body to the digest its p fields
// (as net/url reads them) hash to, so that bodies that parse reach the
// build. The service must never answer 5xx; a torrent must hold exactly
// the posted files, inside the root. The service's form parser must
// agree with url.ParseQuery on every body that ParseQuery accepts.
func FuzzPostDigest(f *testing.F) {
	svc, root, secret := fuzzService(f)
	f.Fuzz(func(t *testing.T, body string) {
		q, qerr := url.ParseQuery(body)
		ps, err := formValues(body, "p", svc.cfg.MaxFiles)
		if qerr == nil && len(q["p"]) <= svc.cfg.MaxFiles && err != nil {
			t.Fatalf("url.ParseQuery accepts %q, formValues says %v", body, err)
		}
		if err == nil && !slices.Equal(ps, q["p"]) {
			t.Fatalf("formValues(%q) = %q, url.ParseQuery gives %q", body, ps, q["p"])
		}
		text := strings.Join(q["p"], "\n")
		if len(q["p"]) == 0 {
			text = body
		}
		sum := sha1.Sum([]byte(text))
		r := httptest.NewRequest(http.MethodPost, mount+"digest/"+hex.EncodeToString(sum[:]), strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		checkInside(t, root, secret, w.Body.Bytes())
		m := decodeTorrent(t, w.Body.Bytes())
		var got []string
		for _, fe := range m.info["files"].([]any) {
			parts := []string{m.info["name"].(string)}
			for _, p := range fe.(map[string]any)["path"].([]any) {
				parts = append(parts, p.(string))
			}
			if parts[1] != "torrent_service" {
				got = append(got, "/"+path.Join(parts...))
			}
		}
		var want []string
		for _, p := range q["p"] {
			want = append(want, "/"+strings.TrimPrefix(p, "/"))
		}
		if !slices.Equal(got, want) {
			if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(got, sorted) {
				t.Errorf("torrent holds %q, posted %q", got, want)
			}
		}
	})
}
