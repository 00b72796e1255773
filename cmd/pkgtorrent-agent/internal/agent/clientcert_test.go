package agent

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// testCA is a certificate authority of a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate for cn (a server's for 127.0.0.1 when
// server is set, else a client's) and its key, in PEM.
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestClientCertificates: the agent's requests to a mirror that requires
// a client certificate present the one of the repo that names it (with
// the repo's CA), for the repo's files and for the service's torrent URLs
// of them; not for a URL of no such repo; the first repo's when two name
// the same mirror; a renewed certificate once its file changed; one from
// $CREDENTIALS_DIRECTORY when its path is not readable; no check of the
// mirror's certificate with sslverify=0. A key the agent cannot read or
// that is too large fails the request with an error naming it, logged
// once.
func TestClientCertificates(t *testing.T) {
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "mirror", true)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	pki, creds := filepath.Join(dir, "pki"), filepath.Join(dir, "creds")
	writeFile(t, filepath.Join(pki, "ca.pem"), ca.pem)
	for _, cn := range []string{"a", "b"} {
		c, k := ca.issue(t, "client-"+cn, false)
		writeFile(t, filepath.Join(pki, cn+".pem"), c)
		writeFile(t, filepath.Join(pki, cn+"-key.pem"), k)
	}
	// The key systemd would pass: LoadCredential=hidden:/no/such/hidden.
	c, k := ca.issue(t, "client-cred", false)
	writeFile(t, filepath.Join(pki, "cred.pem"), c)
	writeFile(t, filepath.Join(creds, "hidden_cred-key.pem"), k)
	writeFile(t, filepath.Join(pki, "big-key.pem"), bytes.Repeat([]byte("A"), maxCertFile+1))
	t.Setenv("CREDENTIALS_DIRECTORY", creds)

	reposDir := filepath.Join(dir, "repos")
	repo := func(id, path string, opts ...string) string {
		return "[" + id + "]\nbaseurl=" + srv.URL + path + "\n" + strings.Join(opts, "\n") + "\n"
	}
	tlsOpts := func(cn string) []string {
		return []string{"sslcacert=" + filepath.Join(pki, "ca.pem"), "sslclientcert=" + filepath.Join(pki, cn+".pem"),
			"sslclientkey=" + filepath.Join(pki, cn+"-key.pem")}
	}
	writeFile(t, filepath.Join(reposDir, "a.repo"), []byte(repo("a", "/yum/el9/", tlsOpts("a")...)+
		repo("cred", "/cred/", "sslcacert="+filepath.Join(pki, "ca.pem"), "sslclientcert="+filepath.Join(pki, "cred.pem"),
			"sslclientkey=/no/such/hidden/cred-key.pem")+
		repo("missing", "/missing/", "sslcacert="+filepath.Join(pki, "ca.pem"), "sslclientcert="+filepath.Join(pki, "a.pem"),
			"sslclientkey=/no/such/key.pem")+
		repo("big", "/big/", "sslcacert="+filepath.Join(pki, "ca.pem"), "sslclientcert="+filepath.Join(pki, "a.pem"),
			"sslclientkey="+filepath.Join(pki, "big-key.pem"))+
		repo("noverify", "/noverify/", "sslverify=0", "sslclientcert="+filepath.Join(pki, "b.pem"),
			"sslclientkey="+filepath.Join(pki, "b-key.pem"))))
	// The same mirror as [a], with another certificate: [a]'s counts.
	writeFile(t, filepath.Join(reposDir, "b.repo"), []byte(repo("b", "/yum/el9/", tlsOpts("b")...)))

	var logBuf bytes.Buffer
	lw := &syncWriter{w: &logBuf}
	log := slog.New(slog.NewTextHandler(lw, nil))
	cfg := settings.Default()
	cfg.ReposDir, cfg.DNFConf = reposDir, ""
	// The agent trusts the mirror without a repo's sslcacert too: a
	// request without a certificate then fails for want of one alone.
	cfg.CAFile = filepath.Join(pki, "ca.pem")
	mirrors := NewMirrors(cfg, log)
	origin, err := originClient(cfg, mirrors, log)
	if err != nil {
		t.Fatal(err)
	}
	defer origin.CloseIdleConnections()
	get := func(path string) (string, error) {
		resp, err := origin.Get(srv.URL + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, c := range []struct{ name, path, want string }{
		{"repo file", "/yum/el9/repodata/repomd.xml", "client-a"},
		{"torrent URL", "/yum/torrent_service/single/yum/el9/Packages/a-1-1.noarch.rpm", "client-a"},
		{"credential", "/cred/repodata/repomd.xml", "client-cred"},
		{"sslverify off", "/noverify/repodata/repomd.xml", "client-b"},
	} {
		if got, err := get(c.path); err != nil || got != c.want {
			t.Errorf("%s: %s presented %q (%v), want %s", c.name, c.path, got, err, c.want)
		}
	}
	if !strings.Contains(logBuf.String(), "two repos name the same mirror") {
		t.Errorf("no log line on the two repos of one mirror:\n%s", logBuf.String())
	}
	if got, err := get("/other/repodata/repomd.xml"); err == nil {
		t.Errorf("a mirror of no repo: got %q, want a refused handshake (no certificate presented)", got)
	}
	if mirrors.NeedsCert(srv.URL+"/other/x.rpm") || !mirrors.NeedsCert(srv.URL+"/yum/el9/Packages/x.rpm") {
		t.Errorf("NeedsCert: want true for the repo's mirror only")
	}

	for _, c := range []struct{ path, want string }{
		{"/missing/repodata/repomd.xml", "sslclientkey /no/such/key.pem"},
		{"/big/repodata/repomd.xml", "larger than 1048576 bytes"},
	} {
		for range 2 {
			_, err := get(c.path)
			var ce *certError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want a certError with %q", c.path, err, c.want)
			}
		}
	}
	if n := strings.Count(logBuf.String(), "is not usable"); n != 2 {
		t.Errorf("%d log lines on unusable files, want 2 (one each):\n%s", n, logBuf.String())
	}

	// Renewed: [a]'s files now hold a new certificate.
	certRecheck = 0
	defer func() { certRecheck = 10 * time.Second }()
	c, k = ca.issue(t, "client-renewed", false)
	writeFile(t, filepath.Join(pki, "a.pem"), c)
	writeFile(t, filepath.Join(pki, "a-key.pem"), k)
	if got, err := get("/yum/el9/repodata/repomd.xml"); err != nil || got != "client-renewed" {
		t.Errorf("after renewal: presented %q (%v), want client-renewed", got, err)
	}
}
