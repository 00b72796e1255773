package service

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
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
