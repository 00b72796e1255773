package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackpal/bencode-go"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// TestMain removes the binaries that the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	e2e.Cleanup()
	os.Exit(code)
}

// raceService is the real binary as these tests run it: with -race.
var raceService = e2e.Service.WithRace()

// serviceBinary builds the real binary once per test run, with -race.
func serviceBinary(t testing.TB) string {
	t.Helper()
	return e2e.GoBinary(t, raceService)
}

// mirror creates a sample mirror, a cache folder and an empty trackers
// file in a temporary folder.
func mirror(t *testing.T) (root, cache, trackers string) {
	t.Helper()
	dir := t.TempDir()
	root, cache, trackers = filepath.Join(dir, "www"), filepath.Join(dir, "cache"), filepath.Join(dir, "trackers")
	if err := samplemirror.Create(root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trackers, []byte("udp://127.0.0.1:1/announce\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, cache, trackers
}

// golden returns the expected info hash of a golden case.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/golden/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		InfoHash string `json:"info_hash"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m[name].InfoHash == "" {
		t.Fatalf("no golden case %s", name)
	}
	return m[name].InfoHash
}

// canonicalInfo decodes a torrent and returns its info dict re-encoded
// canonically (keys sorted), independently of the encoder under test.
func canonicalInfo(t *testing.T, body []byte) []byte {
	t.Helper()
	v, err := bencode.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("torrent does not decode: %v", err)
	}
	var buf bytes.Buffer
	if err := bencode.Marshal(&buf, v.(map[string]any)["info"]); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// infoHash returns the v1 info hash of a torrent: SHA-1 of its info.
func infoHash(t *testing.T, body []byte) string {
	t.Helper()
	sum := sha1.Sum(canonicalInfo(t, body))
	return hex.EncodeToString(sum[:])
}

func get(t *testing.T, method, u string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// checkYumFlow runs the yum-torrent client's exchange against base (the
// service's URL, /{top}/torrent_service) and returns the torrent.
func checkYumFlow(t *testing.T, base string, paths []string) []byte {
	t.Helper()
	sum := sha1.Sum([]byte(strings.Join(paths, "\n")))
	u := base + "/digest/" + hex.EncodeToString(sum[:])
	if res, _ := get(t, "GET", u, nil); res.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("GET unknown digest: status %d, want 412", res.StatusCode)
	}
	res, first := get(t, "POST", u, url.Values{"p": paths})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST: status %d, want 200: %s", res.StatusCode, first)
	}
	cd := res.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, "attachment; filename=") || cd != "attachment; filename="+infoHash(t, first)+".torrent" {
		t.Errorf("Content-Disposition %q, want attachment; filename={info hash}.torrent", cd)
	}
	res, again := get(t, "GET", u, nil)
	if res.StatusCode != http.StatusOK || !bytes.Equal(again, first) {
		t.Errorf("GET after POST: status %d, same body %v; want 200 and the same torrent", res.StatusCode, bytes.Equal(again, first))
	}
	return first
}

var goldenAllPackages = []string{
	"/yum/el9/x86_64/Packages/empty-0-1.noarch.rpm",
	"/yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm",
	"/yum/el9/x86_64/Packages/libstdc++-devel-11.4.1-2.el9.x86_64.rpm",
	"/yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm",
	"/yum/el9/x86_64/Packages/piece-1.0-1.x86_64.rpm",
	"/yum/el9/x86_64/Packages/pieceplus-1.0-1.x86_64.rpm",
	"/yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm",
	"/yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm",
}

func TestStandaloneHTTP(t *testing.T) {
	root, cache, trackers := mirror(t)
	srv := startServer(t, "standalone", serviceBinary(t), nil, "-root", root, "-cache", cache, "-trackers", trackers, "-format", "pkgtorrent")
	site := srv.url

	// The files themselves.
	res, b := get(t, "GET", site+"/yum/iso/boot.iso", nil)
	if want := samplemirror.Content("yum/iso/boot.iso", 2097229); res.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Errorf("GET /yum/iso/boot.iso: status %d, %d bytes; want 200 and the file", res.StatusCode, len(b))
	}
	// Single mode, as curl would ask.
	res, b = get(t, "GET", site+"/yum/torrent_service/single/yum/iso/boot.iso", nil)
	if res.StatusCode != 200 || infoHash(t, b) != golden(t, "single-boot-iso-pkgtorrent") {
		t.Errorf("single: status %d, info hash %s, want 200 and %s", res.StatusCode, infoHash(t, b), golden(t, "single-boot-iso-pkgtorrent"))
	}
	res, b = get(t, "GET", site+"/yum/torrent_service/single/yum/el9/x86_64/Packages/*.rpm", nil)
	if res.StatusCode != 200 || infoHash(t, b) != golden(t, "single-glob-all-rpms-pkgtorrent") {
		t.Errorf("glob: status %d, info hash %s, want 200 and %s", res.StatusCode, infoHash(t, b), golden(t, "single-glob-all-rpms-pkgtorrent"))
	}
	// The yum-torrent flow.
	tor := checkYumFlow(t, site+"/yum/torrent_service", goldenAllPackages)
	if got, want := infoHash(t, tor), golden(t, "digest-all-packages-pkgtorrent"); got != want {
		t.Errorf("digest: info hash %s, want %s", got, want)
	}
	if !bytes.Contains(tor, []byte("http://"+strings.TrimPrefix(site, "http://")+"/")) {
		t.Errorf("web seed is not this server's URL %s/", site)
	}
	// Padding, as non-BEP 47 clients fetch it.
	res, b = get(t, "GET", site+"/yum/torrent_service/nullfile/1048575_1", nil)
	if res.StatusCode != 200 || len(b) != 1048575 || !bytes.Equal(b, make([]byte, 1048575)) {
		t.Errorf("nullfile: status %d, %d bytes", res.StatusCode, len(b))
	}
	// Stops cleanly on SIGTERM.
	srv.stop()
	if !strings.Contains(srv.log(), `msg="torrent built"`) {
		t.Errorf("no build log line:\n%s", srv.log())
	}
}

func TestCGI(t *testing.T) {
	root, cache, trackers := mirror(t)
	h := &cgi.Handler{
		Path:   serviceBinary(t),
		Root:   "/yum/torrent_service",
		Args:   []string{"-cache", cache, "-trackers", trackers, "-format", "bep47"},
		Env:    []string{"DOCUMENT_ROOT=" + root},
		Stderr: io.Discard,
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := srv.URL + "/yum/torrent_service"
	tor := checkYumFlow(t, base, goldenAllPackages)
	if got, want := infoHash(t, tor), golden(t, "digest-all-packages-bep47"); got != want {
		t.Errorf("digest: info hash %s, want %s", got, want)
	}
	res, b := get(t, "GET", base+"/single/yum/el9/x86_64/Packages/p*.rpm", nil)
	if res.StatusCode != 200 || infoHash(t, b) != golden(t, "single-glob-p-rpms-bep47") {
		t.Errorf("glob: status %d, info hash %s, want 200 and %s", res.StatusCode, infoHash(t, b), golden(t, "single-glob-p-rpms-bep47"))
	}
	res, b = get(t, "GET", base+"/single/yum/../../etc/passwd", nil)
	if res.StatusCode != 403 && res.StatusCode != 400 {
		t.Errorf("path outside the root: status %d, want 403: %s", res.StatusCode, b)
	}
	res, b = get(t, "GET", base+"/single/yum/%2e%2e/%2e%2e/etc/passwd", nil)
	if res.StatusCode != 403 {
		t.Errorf("encoded path outside the root: status %d, want 403: %s", res.StatusCode, b)
	}
	res, b = get(t, "PUT", base+"/single/yum/iso/boot.iso", nil)
	if res.StatusCode != 405 {
		t.Errorf("PUT: status %d, want 405: %s", res.StatusCode, b)
	}
	res, b = get(t, "HEAD", base+"/single/yum/iso/boot.iso", nil)
	if res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Type") != "application/x-bittorrent" {
		t.Errorf("HEAD: status %d, %d body bytes, type %q", res.StatusCode, len(b), res.Header.Get("Content-Type"))
	}
}

func TestInvalidSettings(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	os.WriteFile(conf, []byte("# comment\nformat = bep47\npiece-length = 3000\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-piece-length", "1000"}, "piece-length"},
		{[]string{"-piece-length", "8KiB"}, "piece-length"},
		{[]string{"-format", "v2"}, "format"},
		{[]string{"-revalidate", "soon"}, "revalidate"},
		{[]string{"-config", conf}, "piece-length"},
		{[]string{"-config", filepath.Join(dir, "missing.conf")}, "config"},
		{[]string{"-http", "127.0.0.1:0"}, "root"},
		{[]string{"-root", filepath.Join(dir, "nope")}, "root"},
		{[]string{"-base-url", "ftp://x"}, "base-url"},
		{[]string{"-service-name", "a/b"}, "service-name"},
	} {
		cmd := exec.Command(serviceBinary(t), tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2", tc.args, err)
		}
		out := strings.TrimSpace(stderr.String())
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: stderr %q, want one line naming %s", tc.args, out, tc.want)
		}
	}
}

func TestNoModeSaysWhatToDo(t *testing.T) {
	cmd := exec.Command(serviceBinary(t), "-cache", t.TempDir())
	cmd.Stdin = strings.NewReader("")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("%v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "-http") || !strings.Contains(stderr.String(), "FastCGI") {
		t.Errorf("stderr %q does not say how to run it", stderr.String())
	}
}
