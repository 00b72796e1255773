package service

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// cacheFiles returns the files (anything but folders) under dir.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errorsIsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// TestFailedRequestsLeaveNoFiles sends requests that end in 404 or 400
// (issue 11, item 2: each left an empty info/{key}.lock, 16 million
// inodes an hour under a flood): none may leave a file in the cache.
func TestFailedRequestsLeaveNoFiles(t *testing.T) {
	f := newFixture(t, nil)
	const mount = "http://mirror.test/yum/torrent_service/"
	for _, tc := range []struct {
		name   string
		method string
		target string
		form   url.Values
		want   int
	}{
		{"missing file", "GET", mount + "single/yum/el9/x86_64/Packages/nope-1.rpm", nil, http.StatusNotFound},
		{"missing file, magnet", "GET", mount + "magnet/yum/el9/x86_64/Packages/nope-2.rpm", nil, http.StatusNotFound},
		{"glob matching nothing", "GET", mount + "single/yum/el9/x86_64/Packages/nope-*.rpm", nil, http.StatusNotFound},
		{"globstar matching nothing", "GET", mount + "single/yum/**/nope-*.rpm", nil, http.StatusNotFound},
		{"folder", "GET", mount + "single/yum/iso", nil, http.StatusNotFound},
		{"glob over two folders", "GET", mount + "single/**/*.*", nil, http.StatusBadRequest},
		{"posted missing file", "POST", "", url.Values{"p": {pkg("one-1.0-1.noarch.rpm"), pkg("nope-3.rpm")}}, http.StatusNotFound},
		{"posted folder", "POST", "", url.Values{"p": {"/yum/iso"}}, http.StatusNotFound},
		{"posted files under two folders", "POST", "", url.Values{"p": {"/other/readme.txt", pkg("one-1.0-1.noarch.rpm")}}, http.StatusBadRequest},
		{"unknown digest", "GET", mount + "digest/" + digestOf([]string{pkg("nope-4.rpm")}), nil, http.StatusPreconditionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if tc.method == "POST" {
				target = mount + "digest/" + digestOf(tc.form["p"])
			}
			w := f.do(tc.method, target, tc.form)
			if w.Code != tc.want {
				t.Fatalf("%s %s: status %d (%q), want %d", tc.method, target, w.Code, w.Body.String(), tc.want)
			}
			if left := cacheFiles(t, f.cache); len(left) > 0 {
				t.Errorf("%s %s (%d) left %d files in the cache: %q", tc.method, target, w.Code, len(left), left)
			}
		})
	}
	// The requests that succeed still lock and cache as before.
	if w := f.post(pkg("one-1.0-1.noarch.rpm")); w.Code != http.StatusOK {
		t.Fatalf("POST of a real file: %d %s", w.Code, w.Body)
	}
	if left := cacheFiles(t, f.cache); len(left) == 0 {
		t.Errorf("a torrent built from a real file left nothing in the cache")
	}
}

// TestFutureCheckTimeExpires gives the info entries a check time 2 hours
// ahead, as a clock stepped back leaves them, then changes a file (issue
// 11, item 6: the stale torrent was served without a check for as long as
// the offset lasted). The next request must check the files and serve the
// new content, in digest and single mode; an entry whose files did not
// change gets its check time moved back to now.
func TestFutureCheckTimeExpires(t *testing.T) {
	f := newFixture(t, nil)
	c := &clock{t: time.Now().Truncate(time.Second)}
	f.svc.now = c.now
	digest := "http://mirror.test/yum/torrent_service/digest/" + digestOf(somePackages)
	single := "http://mirror.test/yum/torrent_service/single/yum/el9/x86_64/Packages/*.rpm"
	iso := "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso"
	if w := f.post(somePackages...); w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	before := map[string]string{}
	for _, target := range []string{digest, single, iso} {
		w := f.get(target, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
		}
		before[target] = decodeTorrent(t, w.Body.Bytes()).infoHash
	}
	future := c.now().Add(2 * time.Hour)
	entries, err := os.ReadDir(f.svc.infos.Dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if len(e.Name()) == 40 {
			if err := os.Chtimes(f.svc.infos.Path(e.Name()), future, future); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d info entries, want 3", n)
	}
	// The same size, other bytes: a new mtime, as a repository sync gives.
	changed := filepath.Join(f.root, "yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm")
	b, err := os.ReadFile(changed)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(changed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{digest, single} {
		w := f.get(target, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
		}
		m := decodeTorrent(t, w.Body.Bytes())
		if m.infoHash == before[target] {
			t.Errorf("GET %s after the file changed: the old torrent (%s), served on a check time 2 h ahead", target, m.infoHash)
		}
		verifyPieces(t, f.root, "torrent_service", m)
		if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=60" {
			t.Errorf("GET %s: Cache-Control %q, want public, max-age=60", target, cc)
		}
	}
	// boot.iso did not change: its entry is checked, kept, and its check
	// time is no longer ahead.
	w := f.get(iso, nil)
	if w.Code != http.StatusOK || decodeTorrent(t, w.Body.Bytes()).infoHash != before[iso] {
		t.Fatalf("GET %s: %d, or another torrent for an unchanged file", iso, w.Code)
	}
	for _, e := range entries {
		if len(e.Name()) != 40 {
			continue
		}
		fi, err := os.Stat(f.svc.infos.Path(e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Before(future) {
			t.Errorf("entry %s: check time %v is still in the future after a request", e.Name(), fi.ModTime())
		}
	}
}
