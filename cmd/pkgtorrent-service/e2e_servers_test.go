package main

// Real web servers for the end-to-end tests: nginx passing the service's
// locations to the binary over a unix socket, and Apache with mod_fcgid
// starting the binary itself. Their service configuration is read from
// httpd-conf/ with paths substituted; only the outer scaffolding (listen,
// pid, logs, modules) is written here.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

const (
	e2eApacheConf = "../../httpd-conf/apache-pkgtorrent-service.conf"
	e2eNginxConf  = "../../httpd-conf/nginx-pkgtorrent-service.conf"
	// e2eNginxHTTPConf is the http {} part: the upstream (and cache).
	e2eNginxHTTPConf = "../../httpd-conf/nginx-pkgtorrent-service-http.conf"
	// e2eService is the service name the configurations use.
	e2eService = "torrent_service"
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

// e2eSettingsFile writes the service's settings file into dir: its own
// cache, its own trackers file, and the extra lines.
func e2eSettingsFile(t *testing.T, dir string, o e2eServerOpts) string {
	t.Helper()
	cache := e2eWritable(t, filepath.Join(dir, "cache"))
	trackers := filepath.Join(dir, "trackers")
	if err := os.WriteFile(trackers, []byte(strings.Join(append([]string{"# announce URLs of the test"}, o.trackers...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := append([]string{"cache = " + cache, "trackers = " + trackers, "log-level = debug"}, o.settings...)
	path := filepath.Join(dir, "service-settings.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// e2eCert writes a self-signed certificate for 127.0.0.1 into dir and
// returns its files and a pool that trusts it.
func e2eCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func e2eClient(t *testing.T, pool *x509.CertPool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Timeout:   60 * time.Second,
		Transport: tr,
		// The service never redirects; a redirect would be a finding.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// e2eNginx starts nginx (and, unless o.socket is set, the service with
// -fcgi unix:...) serving o.mirror on two loopback ports, HTTP and HTTPS.
func e2eNginx(t *testing.T, o e2eServerOpts) *e2eServer {
	t.Helper()
	nginx := e2eNeed(t, "nginx")
	dir := filepath.Join(t.TempDir(), "nginx")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e2eShare(t, dir)
	s := &e2eServer{name: "nginx", software: "nginx/", mirror: o.mirror, accessLog: filepath.Join(dir, "access.log")}

	var procs []*e2eProc
	sock := o.socket
	if sock == "" {
		bin := e2eBinary(t)
		sock = filepath.Join(dir, "fcgi.sock")
		settings := e2eSettingsFile(t, dir, o)
		s.serviceLog = filepath.Join(dir, "service.log")
		svc := e2eStart(t, "pkgtorrent-service -fcgi", exec.Command(bin, "-config", settings, "-fcgi", "unix:"+sock), s.serviceLog)
		e2eCheckRaces(t, s.serviceLog)
		e2eWait(t, "the service's FastCGI socket", 20*time.Second, func() error {
			fi, err := os.Stat(sock)
			if err == nil && fi.Mode()&os.ModeSocket == 0 {
				err = fmt.Errorf("%s is not a socket", sock)
			}
			return err
		}, svc)
		procs = append(procs, svc)
	}

	// The operator's snippet, and its http {} part talking to the test's
	// socket. The snippet includes fastcgi_params relative to the
	// configuration's folder, as from /etc/nginx: the test uses the
	// installed one.
	snippet, err := os.ReadFile(e2eNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	e2eWriteFile(t, filepath.Join(dir, "nginx-pkgtorrent-service.conf"), string(snippet))
	httpPart, err := os.ReadFile(e2eNginxHTTPConf)
	if err != nil {
		t.Fatal(err)
	}
	text := e2eReplace(t, e2eNginxHTTPConf, string(httpPart),
		"unix:/run/pkgtorrent-service.sock", "unix:"+sock,
		"/var/lib/nginx/pkgtorrent-service ", filepath.Join(dir, "fastcgi-cache")+" ")
	e2eWriteFile(t, filepath.Join(dir, "nginx-pkgtorrent-service-http.conf"), text)
	params, err := os.ReadFile("/etc/nginx/fastcgi_params")
	if err != nil {
		t.Fatalf("nginx's fastcgi_params: %v: install the Debian package nginx-light (`make deps` installs it)", err)
	}
	e2eWriteFile(t, filepath.Join(dir, "fastcgi_params"), string(params))

	certFile, keyFile, pool := e2eCert(t, dir)
	port, tlsPort := e2ePort(t), e2ePort(t)
	s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.tlsBase = fmt.Sprintf("https://127.0.0.1:%d", tlsPort)
	s.client = e2eClient(t, pool)
	userLine := ""
	if u := e2eWebUser(t); u != nil {
		userLine = fmt.Sprintf("user %s;", u.Username)
	}
	tmp := e2eWritable(t, filepath.Join(dir, "tmp"))
	errorLog := filepath.Join(dir, "error.log")
	conf := fmt.Sprintf(`# Scaffolding of the end-to-end test; the service's part is included.
daemon off;
master_process on;
worker_processes 1;
%[1]s
pid %[2]s/nginx.pid;
error_log %[3]s info;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format e2e '$remote_addr $upstream_cache_status "$request" $status $body_bytes_sent "$http_user_agent"';
    access_log %[4]s e2e;
    client_body_temp_path %[5]s/body;
    fastcgi_temp_path %[5]s/fastcgi;
    proxy_temp_path %[5]s/proxy;
    uwsgi_temp_path %[5]s/uwsgi;
    scgi_temp_path %[5]s/scgi;
    include nginx-pkgtorrent-service-http.conf;
    server {
        listen 127.0.0.1:%[6]d;
        listen 127.0.0.1:%[7]d ssl;
        ssl_certificate %[8]s;
        ssl_certificate_key %[9]s;
        server_name localhost;
        root %[10]s;
        include nginx-pkgtorrent-service.conf;
    }
}
`, userLine, dir, errorLog, s.accessLog, tmp, port, tlsPort, certFile, keyFile, o.mirror)
	confFile := filepath.Join(dir, "nginx.conf")
	e2eWriteFile(t, confFile, conf)
	e2eShowLogOnFailure(t, "nginx error log", errorLog)
	p := e2eStart(t, "nginx", exec.Command(nginx, "-p", dir+"/", "-c", confFile, "-e", errorLog), filepath.Join(dir, "nginx.out"))
	s.waitReady(t, append(procs, p)...)
	return s
}

// e2eApache starts Apache with mod_fcgid, which starts the service as
// its FastCGI program, serving o.mirror on two loopback ports, HTTP and
// HTTPS.
func e2eApache(t *testing.T, o e2eServerOpts) *e2eServer {
	t.Helper()
	apache := e2eNeed(t, "apache2")
	fcgid := e2eNeed(t, "mod_fcgid")
	bin := e2eBinary(t)
	dir := filepath.Join(t.TempDir(), "apache")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e2eShare(t, dir)
	settings := e2eSettingsFile(t, dir, o)
	s := &e2eServer{name: "apache", software: "Apache/", mirror: o.mirror,
		accessLog: filepath.Join(dir, "access.log"), serviceLog: filepath.Join(dir, "error.log")}

	conf, err := os.ReadFile(e2eApacheConf)
	if err != nil {
		t.Fatal(err)
	}
	text := e2eReplace(t, e2eApacheConf, string(conf),
		"/usr/bin/pkgtorrent-service", bin,
		"/etc/pkgtorrent-service.conf", settings)
	e2eWriteFile(t, filepath.Join(dir, "apache-pkgtorrent-service.conf"), text)

	certFile, keyFile, pool := e2eCert(t, dir)
	port, tlsPort := e2ePort(t), e2ePort(t)
	s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.tlsBase = fmt.Sprintf("https://127.0.0.1:%d", tlsPort)
	s.client = e2eClient(t, pool)
	userLines := ""
	if u := e2eWebUser(t); u != nil {
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		userLines = fmt.Sprintf("User %s\nGroup %s", u.Username, g.Name)
	}
	modules := filepath.Dir(fcgid)
	fcgidDir := e2eWritable(t, filepath.Join(dir, "fcgid"))
	e2eWritable(t, filepath.Join(dir, "run"))
	main := fmt.Sprintf(`# Scaffolding of the end-to-end test; the service's part is included.
ServerRoot "%[1]s"
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
PidFile "%[1]s/apache.pid"
DefaultRuntimeDir "%[1]s/run"
ErrorLog "%[1]s/error.log"
LogLevel info
LoadModule mpm_event_module %[4]s/mod_mpm_event.so
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule ssl_module %[4]s/mod_ssl.so
LoadModule fcgid_module %[5]s
%[6]s
ServerName 127.0.0.1
DocumentRoot "%[7]s"
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory "%[7]s">
    Require all granted
    Options None
</Directory>
LogFormat "%%h \"%%r\" %%>s %%B \"%%{User-Agent}i\"" e2e
CustomLog "%[1]s/access.log" e2e
FcgidIPCDir "%[8]s"
FcgidProcessTableFile "%[8]s/shm"
<VirtualHost 127.0.0.1:%[3]d>
    SSLEngine on
    SSLCertificateFile "%[9]s"
    SSLCertificateKeyFile "%[10]s"
</VirtualHost>
Include "%[1]s/apache-pkgtorrent-service.conf"
`, dir, port, tlsPort, modules, fcgid, userLines, o.mirror, fcgidDir, certFile, keyFile)
	confFile := filepath.Join(dir, "httpd.conf")
	e2eWriteFile(t, confFile, main)
	e2eShowLogOnFailure(t, "apache error log (with the service's log)", s.serviceLog)
	e2eCheckRaces(t, s.serviceLog)
	p := e2eStart(t, "apache2", exec.Command(apache, "-f", confFile, "-DFOREGROUND"), filepath.Join(dir, "apache.out"))
	s.waitReady(t, p)
	return s
}

func e2eWriteFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// e2eCheckRaces fails the test when the race detector reported a data
// race of the service (built with -race) in its log.
func e2eCheckRaces(t *testing.T, log string) {
	t.Cleanup(func() {
		if b, err := os.ReadFile(log); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			t.Errorf("the service reported a data race in %s", log)
		}
	})
}

// waitReady waits until the server serves a mirror file on both ports.
func (s *e2eServer) waitReady(t *testing.T, procs ...*e2eProc) {
	t.Helper()
	for _, base := range []string{s.base, s.tlsBase} {
		e2eWait(t, s.name+" on "+base, 20*time.Second, func() error {
			resp, err := s.client.Get(base + "/other/readme.txt")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /other/readme.txt: %s", resp.Status)
			}
			return nil
		}, procs...)
	}
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
