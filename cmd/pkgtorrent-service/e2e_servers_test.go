package main

// Real web servers for the end-to-end tests (pkg/e2e starts them): nginx
// passing the service's locations to the binary over a unix socket, and
// Apache with mod_fcgid starting the binary itself; and what the tests
// ask them.

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

const (
	e2eApacheConf    = "../../" + e2e.ApacheConf
	e2eNginxConf     = "../../" + e2e.NginxConf
	e2eNginxHTTPConf = "../../" + e2e.NginxHTTPConf
	// e2eService is the service name the configurations use.
	e2eService = e2e.ServiceName
	// e2eMount is where yum-torrent sends its requests by default.
	e2eMount = "/yum/" + e2eService
)

// e2eServer is a running web server in front of the service.
type e2eServer struct {
	name       string // nginx or apache
	software   string // what its Server header starts with
	base       string // http://127.0.0.1:port
	tlsBase    string // https://127.0.0.1:port
	mirror     string // document root
	accessLog  string
	serviceLog string // where the service's stderr goes
	client     *http.Client
}

// e2eServerOpts configure a web server and the service behind it.
type e2eServerOpts struct {
	mirror string
	// settings are extra "key = value" lines of the service's settings
	// file (which already sets cache and trackers; later lines win).
	settings []string
	// trackers are the lines of the trackers file (none: web seed only).
	trackers []string
	// socket, for nginx: pass requests to this already listening FastCGI
	// socket instead of starting the binary.
	socket string
}

// web returns the harness's options for o.
func (o e2eServerOpts) web(t *testing.T) e2e.WebOptions {
	return e2e.WebOptions{Root: o.mirror, Service: serviceBinary(t), Settings: o.settings, Trackers: o.trackers,
		Socket: o.socket, Ready: "/other/readme.txt"}
}

// e2eServerOf is the server w serving mirror, whose Server header
// starts with software.
func e2eServerOf(w *e2e.Web, software, mirror string) *e2eServer {
	return &e2eServer{name: w.Name, software: software, base: w.Base, tlsBase: w.TLSBase, mirror: mirror,
		accessLog: w.AccessLog, serviceLog: w.ServiceLog, client: w.Client}
}

// e2eNginx starts nginx (and, unless o.socket is set, the service with
// -fcgi unix:...) serving o.mirror on two loopback ports, HTTP and HTTPS.
func e2eNginx(t *testing.T, o e2eServerOpts) *e2eServer {
	t.Helper()
	return e2eServerOf(e2e.StartNginx(t, o.web(t)), "nginx/", o.mirror)
}

// e2eApache starts Apache with mod_fcgid, which starts the service as
// its FastCGI program, serving o.mirror on two loopback ports, HTTP and
// HTTPS.
func e2eApache(t *testing.T, o e2eServerOpts) *e2eServer {
	t.Helper()
	return e2eServerOf(e2e.StartApache(t, o.web(t)), "Apache/", o.mirror)
}

// do sends a request and returns the response with its body read.
func (s *e2eServer) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s.name, req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %s %s: reading the body: %v", s.name, req.Method, req.URL, err)
	}
	return resp, body
}

func (s *e2eServer) get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, req)
}

// torrent checks a torrent answer and returns the torrent: 200,
// application/x-bittorrent, a Content-Disposition that starts with exactly
// "attachment; filename=" and names the info hash, a right Content-Length.
func (s *e2eServer) torrent(t *testing.T, what string, resp *http.Response, body []byte) *e2eTorrent {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: status %s, want 200 OK; body %q", s.name, what, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-bittorrent" {
		t.Errorf("%s: %s: Content-Type %q, want application/x-bittorrent", s.name, what, ct)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("%s: %s: Content-Length %q, body has %d bytes", s.name, what, cl, len(body))
	}
	tt, err := e2eParseTorrent(body)
	if err != nil {
		t.Fatalf("%s: %s: the answer is not a torrent: %v", s.name, what, err)
	}
	cd := resp.Header.Get("Content-Disposition")
	name, ok := strings.CutPrefix(cd, "attachment; filename=")
	if !ok {
		t.Errorf("%s: %s: Content-Disposition %q does not start with exactly %q", s.name, what, cd, "attachment; filename=")
	}
	if want := tt.infoHash + ".torrent"; name != want {
		t.Errorf("%s: %s: Content-Disposition file name %q, want the info hash %q", s.name, what, name, want)
	}
	return tt
}

// single fetches {base}/yum/torrent_service/single/{pattern}.
func (s *e2eServer) single(t *testing.T, base, pattern string) *e2eTorrent {
	t.Helper()
	return s.fetch(t, base+e2eMount+"/single/"+pattern)
}

// fetch GETs a torrent.
func (s *e2eServer) fetch(t *testing.T, u string) *e2eTorrent {
	t.Helper()
	resp, body := s.get(t, u)
	return s.torrent(t, "GET "+u, resp, body)
}

// e2eDigest returns yum-torrent's digest of paths: SHA-1 hex of the paths
// joined with "\n", in the order given.
func e2eDigest(paths []string) string {
	sum := sha1.Sum([]byte(strings.Join(paths, "\n")))
	return hex.EncodeToString(sum[:])
}

// yumFlow does what yum-torrent does for paths (already in the order it
// posts them): GET the digest (412, with the no-cache headers and no
// body), POST the paths (200), GET again (200, the same torrent).
func (s *e2eServer) yumFlow(t *testing.T, paths []string) *e2eTorrent {
	t.Helper()
	u := s.base + e2eMount + "/digest/" + e2eDigest(paths)
	resp, body := s.get(t, u)
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("%s: GET %s before the POST: status %s, want 412; body %q", s.name, u, resp.Status, body)
	}
	for k, want := range map[string]string{
		"Cache-Control": "no-cache, no-store, must-revalidate",
		"Pragma":        "no-cache",
		"Expires":       "0",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: GET %s: 412 with %s %q, want %q", s.name, u, k, got, want)
		}
	}
	if len(body) != 0 {
		t.Errorf("%s: GET %s: 412 with a body %q, want none", s.name, u, body)
	}

	form := url.Values{"p": paths}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, posted := s.do(t, req)
	tt := s.torrent(t, "POST "+u, resp, posted)

	resp, body = s.get(t, u)
	s.torrent(t, "GET "+u+" after the POST", resp, body)
	if !bytes.Equal(body, posted) {
		t.Errorf("%s: GET %s after the POST answers another torrent than the POST", s.name, u)
	}
	return tt
}

// e2eGoldenCase is one case of testdata/golden/cases.json with its
// expected info hash and web seed folder.
type e2eGoldenCase struct {
	Name, Mode, Format, Pattern string
	Paths                       []string
	Digest                      string
	InfoHash                    string `json:"info_hash"`
	URLDir                      string `json:"url_dir"`
}

func e2eGolden(t *testing.T, format string) []e2eGoldenCase {
	t.Helper()
	var cases []e2eGoldenCase
	var expected map[string]e2eGoldenCase
	e2eReadJSON(t, "../../testdata/golden/cases.json", &cases)
	e2eReadJSON(t, "../../testdata/golden/expected.json", &expected)
	var out []e2eGoldenCase
	for _, c := range cases {
		if c.Format != format {
			continue
		}
		e, ok := expected[c.Name]
		if !ok || e.InfoHash == "" {
			t.Fatalf("golden case %s has no expected info hash", c.Name)
		}
		c.InfoHash, c.URLDir = e.InfoHash, e.URLDir
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("no golden cases of format %s", format)
	}
	return out
}

// e2eSampleRPMs returns the sample mirror's packages as yum-torrent posts
// them: URL paths, sorted bytewise.
func e2eSampleRPMs() []string {
	var paths []string
	for _, f := range samplemirror.Files {
		if strings.HasSuffix(f.Path, ".rpm") {
			paths = append(paths, "/"+f.Path)
		}
	}
	slices.Sort(paths)
	return paths
}
