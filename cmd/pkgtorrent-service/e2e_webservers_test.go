package main

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// e2eTestWebServers sends the same requests through nginx and Apache over
// one sample mirror: the golden cases (single mode, and digest mode as
// yum-torrent does it), HTTPS, padding files and curl. Both must give the
// golden info hashes, web seed URLs with their own scheme and port, and
// serve the mirror's files themselves.
func e2eTestWebServers(t *testing.T) {
	mirror := e2eMirror(t)
	opts := e2eServerOpts{mirror: mirror, settings: []string{"format = pkgtorrent"}}
	servers := []*e2eServer{e2eNginx(t, opts), e2eApache(t, opts)}
	cases := e2eGolden(t, "pkgtorrent")

	// hashes[request][server] is the info hash a server answered.
	hashes := make(map[string]map[string]string)
	record := func(request, server, hash string) {
		if hashes[request] == nil {
			hashes[request] = make(map[string]string)
		}
		hashes[request][server] = hash
	}

	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Run("Files", func(t *testing.T) {
				for _, rel := range []string{"yum/iso/boot.iso", "yum/el9/x86_64/Packages/libstdc++-devel-11.4.1-2.el9.x86_64.rpm"} {
					u := s.base + "/" + e2eEscape(rel)
					resp, body := s.get(t, u)
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("GET %s: %s", u, resp.Status)
					}
					if srv := resp.Header.Get("Server"); !strings.HasPrefix(srv, s.software) {
						t.Errorf("GET %s: Server %q, want the web server (%s...)", u, srv, s.software)
					}
					if !bytes.Equal(body, samplemirror.Content(rel, e2eMirrorFile(t, rel))) {
						t.Errorf("GET %s: %d bytes that are not the file's", u, len(body))
					}
				}
			})

			t.Run("Golden", func(t *testing.T) {
				for _, c := range cases {
					var tt *e2eTorrent
					if c.Mode == "single" {
						tt = s.single(t, s.base, c.Pattern)
					} else {
						tt = s.yumFlow(t, c.Paths)
					}
					record(c.Name, s.name, tt.infoHash)
					if tt.infoHash != c.InfoHash {
						t.Errorf("%s: info hash %s, want the golden %s", c.Name, tt.infoHash, c.InfoHash)
					}
					want := s.base + "/"
					if c.URLDir != "" {
						want += c.URLDir + "/"
					}
					if !slices.Equal(tt.urlList, []string{want}) {
						t.Errorf("%s: url-list %q, want [%q]", c.Name, tt.urlList, want)
					}
				}
			})

			// yum-torrent sorts the paths before it hashes and posts them.
			t.Run("YumTorrentSorted", func(t *testing.T) {
				for _, c := range cases {
					if c.Mode != "digest" || slices.IsSorted(c.Paths) {
						continue
					}
					tt := s.yumFlow(t, slices.Sorted(slices.Values(c.Paths)))
					record("sorted "+c.Name, s.name, tt.infoHash)
				}
				tt := s.yumFlow(t, []string{"/yum/iso/boot.iso"})
				record("digest boot.iso", s.name, tt.infoHash)
				if !tt.multi() || tt.name != "yum" || len(tt.files) != 1 || tt.files[0].path != "iso/boot.iso" {
					t.Errorf("digest of one file: want a multi-file torrent named yum with iso/boot.iso, got name %q files %v", tt.name, tt.files)
				}
			})

			// Any first-level folder has the service; deeper ones do not.
			t.Run("OtherFolder", func(t *testing.T) {
				tt := s.fetch(t, s.base+"/other/"+e2eService+"/single/other/readme.txt")
				record("single other/readme.txt", s.name, tt.infoHash)
				if want := s.base + "/other/"; tt.multi() || tt.name != "readme.txt" || !slices.Equal(tt.urlList, []string{want}) {
					t.Errorf("single other/readme.txt: name %q, url-list %q, want a single-file torrent of readme.txt with [%q]", tt.name, tt.urlList, want)
				}
				u := s.base + "/yum/el9/" + e2eService + "/single/yum/iso/boot.iso"
				if resp, _ := s.get(t, u); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") == "application/x-bittorrent" {
					t.Errorf("GET %s: %s, want the web server's 404", u, resp.Status)
				}
			})

			t.Run("HTTPS", func(t *testing.T) {
				tt := s.single(t, s.tlsBase, "yum/iso/boot.iso")
				record("https single boot.iso", s.name, tt.infoHash)
				if want := s.tlsBase + "/yum/iso/"; !slices.Equal(tt.urlList, []string{want}) {
					t.Errorf("over HTTPS: url-list %q, want [%q]", tt.urlList, want)
				}
			})

			t.Run("Nullfile", func(t *testing.T) {
				u := s.base + e2eMount + "/nullfile/1000_0"
				resp, body := s.get(t, u)
				if resp.StatusCode != http.StatusOK || len(body) != 1000 || !e2eZeros(body) {
					t.Errorf("GET %s: %s with %d bytes (zeros: %v), want 200 with 1000 zero bytes", u, resp.Status, len(body), e2eZeros(body))
				}
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Range", "bytes=10-19")
				resp, body = s.do(t, req)
				if resp.StatusCode != http.StatusPartialContent || len(body) != 10 || !e2eZeros(body) {
					t.Errorf("GET %s, Range bytes=10-19: %s with %d bytes, want 206 with 10 zero bytes", u, resp.Status, len(body))
				}
				u = s.base + e2eMount + "/nullfile/1048577_0"
				if resp, _ := s.get(t, u); resp.StatusCode != http.StatusForbidden {
					t.Errorf("GET %s (more than a piece): %s, want 403", u, resp.Status)
				}
			})

			t.Run("Curl", func(t *testing.T) { e2eCurl(t, s, cases) })
		})
	}

	t.Run("SameInfoHashes", func(t *testing.T) {
		if len(hashes) == 0 {
			t.Fatal("no torrents to compare")
		}
		for request, by := range hashes {
			if len(by) != len(servers) {
				t.Errorf("%s: answered by %d servers only: %v", request, len(by), by)
				continue
			}
			if by["nginx"] != by["apache"] {
				t.Errorf("%s: info hash %s through nginx, %s through Apache", request, by["nginx"], by["apache"])
			}
		}
	})
}

// e2eCurl fetches torrents in single mode with curl as a person would,
// saving them under the name the server gives (-OJ).
func e2eCurl(t *testing.T, s *e2eServer, cases []e2eGoldenCase) {
	curl := e2e.Need(t, "curl")
	golden := make(map[string]e2eGoldenCase)
	for _, c := range cases {
		if c.Mode == "single" {
			golden[c.Pattern] = c
		}
	}
	log := filepath.Join(t.TempDir(), "curl.log")
	e2e.ShowLogOnFailure(t, "curl", log)
	for _, tc := range []struct {
		pattern string
		files   []string // nil: a single-file torrent
	}{
		{"yum/iso/boot.iso", nil},
		{"yum/el9/x86_64/Packages/p*.rpm", []string{"el9/x86_64/Packages/piece-1.0-1.x86_64.rpm", "el9/x86_64/Packages/pieceplus-1.0-1.x86_64.rpm"}},
		// -g: curl must not read the brackets as its own URL globbing.
		{"yum/el9/x86_64/Packages/*e-[0-9]*.rpm", []string{
			"el9/x86_64/Packages/one-1.0-1.noarch.rpm", e2eService + "/nullfile/1048575_0",
			"el9/x86_64/Packages/piece-1.0-1.x86_64.rpm",
			"el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm"}},
	} {
		dir := t.TempDir()
		u := s.base + e2eMount + "/single/" + tc.pattern
		if _, err := e2e.Run(t, 30*time.Second, log, curl, "-fsS", "-g", "-O", "-J", "--output-dir", dir, u); err != nil {
			t.Errorf("curl %s: %v", u, err)
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			t.Errorf("curl -OJ %s: want one file saved, got %v (%v)", u, entries, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
		if err != nil {
			t.Fatal(err)
		}
		tt, err := e2eParseTorrent(b)
		if err != nil {
			t.Errorf("curl %s: saved %s, not a torrent: %v", u, entries[0].Name(), err)
			continue
		}
		if entries[0].Name() != tt.infoHash+".torrent" {
			t.Errorf("curl -OJ %s saved %s, want the info hash %s.torrent", u, entries[0].Name(), tt.infoHash)
		}
		if c, ok := golden[tc.pattern]; ok && tt.infoHash != c.InfoHash {
			t.Errorf("curl %s: info hash %s, want the golden %s", u, tt.infoHash, c.InfoHash)
		}
		if tc.files == nil {
			if tt.multi() || tt.name != "boot.iso" || tt.length != e2eMirrorFile(t, "yum/iso/boot.iso") {
				t.Errorf("curl %s: want a single-file torrent of boot.iso, got name %q length %d files %v", u, tt.name, tt.length, tt.files)
			}
			continue
		}
		var paths []string
		for _, f := range tt.files {
			paths = append(paths, f.path)
		}
		if tt.name != "yum" || !slices.Equal(paths, tc.files) {
			t.Errorf("curl %s: name %q files %q, want yum with %q", u, tt.name, paths, tc.files)
		}
	}
}

// e2eTestBaseURL checks that the base-url setting replaces the scheme,
// host and port of the web seed URLs, here behind nginx.
func e2eTestBaseURL(t *testing.T) {
	const base = "https://mirror.example.org:8443/pub"
	s := e2eNginx(t, e2eServerOpts{mirror: e2eMirror(t), settings: []string{"base-url = " + base + "/"}})
	for _, b := range []string{s.base, s.tlsBase} {
		tt := s.single(t, b, "yum/iso/boot.iso")
		if want := base + "/yum/iso/"; !slices.Equal(tt.urlList, []string{want}) {
			t.Errorf("single through %s: url-list %q, want [%q]", b, tt.urlList, want)
		}
	}
	tt := s.yumFlow(t, e2eSampleRPMs())
	if want := base + "/"; !slices.Equal(tt.urlList, []string{want}) {
		t.Errorf("digest: url-list %q, want [%q]", tt.urlList, want)
	}
}

// e2eEscape escapes each segment of a slash-separated path for a URL.
func e2eEscape(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func e2eZeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
