package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
)

// Client certificates. A repo's sslclientcert, sslclientkey, sslcacert
// and sslverify (repos.DNFTLS) apply to every request of the agent to the
// repo's mirrors: torrents, pieces and pass-through. Each distinct set of
// them has its own http.Transport (certTransports), so a connection that
// presented a certificate never carries a request of another repo or of
// a mirror without one.

const (
	// maxCertFile bounds a certificate (chain) or key file read.
	maxCertFile = 1 << 20
	// maxCAFile bounds a CA file read (a system bundle is about 200 KB).
	maxCAFile = 4 << 20
)

// certRecheck is how often the files of a set in use are looked at again
// (size, time, inode): a renewed certificate is read within it.
var certRecheck = 10 * time.Second

// certError is a repo's TLS files the agent cannot use (unreadable,
// too large, not PEM, a key that does not match): the request fails
// with it, and dnf takes the file from its next URL.
type certError struct{ err error }

func (e *certError) Error() string {
	return "the repo's TLS files are not usable by the agent: " + e.err.Error()
}
func (e *certError) Unwrap() error { return e.err }

// certTransports is the origin client's RoundTripper: an https request
// goes through the transport of its mirror's TLS (Mirrors.TLS), any other
// through base.
type certTransports struct {
	base    *http.Transport
	mirrors *Mirrors
	log     *slog.Logger
	// credDir is systemd's $CREDENTIALS_DIRECTORY (LoadCredential=), or
	// "": where a file the agent may not read at its path is looked for
	// (credentialNames).
	credDir string

	mu  sync.Mutex
	set map[repos.TLS]*certTransport
}

// certTransport is the transport of one set of TLS options, or why there
// is none (err); stamp identifies the files it was made of.
type certTransport struct {
	tr      *http.Transport
	err     error
	stamp   string
	checked time.Time
}

func newCertTransports(base *http.Transport, mirrors *Mirrors, log *slog.Logger) *certTransports {
	return &certTransports{base: base, mirrors: mirrors, log: log, credDir: os.Getenv("CREDENTIALS_DIRECTORY"),
		set: map[repos.TLS]*certTransport{}}
}

func (c *certTransports) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return c.base.RoundTrip(req)
	}
	t, err := c.mirrors.TLS(req.URL)
	if err == nil && t.IsZero() {
		return c.base.RoundTrip(req)
	}
	var tr *http.Transport
	if err == nil {
		tr, err = c.transport(t)
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &certError{err}
	}
	return tr.RoundTrip(req)
}

// CloseIdleConnections closes those of every transport.
func (c *certTransports) CloseIdleConnections() {
	c.base.CloseIdleConnections()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.set {
		if e.tr != nil {
			e.tr.CloseIdleConnections()
		}
	}
}

// transport is the transport of t, made again when its files changed.
// A set the agent cannot use is logged once per change of its files.
func (c *certTransports) transport(t repos.TLS) (*http.Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.set[t]
	now := time.Now()
	if e != nil && now.Sub(e.checked) < certRecheck {
		return e.tr, e.err
	}
	stamp := c.stamp(t)
	if e != nil && stamp == e.stamp {
		e.checked = now
		return e.tr, e.err
	}
	tr, err := c.load(t)
	if err != nil {
		c.log.Error("a repo's client certificate, key or CA file is not usable: requests to its mirror fail (dnf takes them from the mirror itself); see CLIENT CERTIFICATES in pkgtorrent-agent(8)",
			"sslclientcert", t.ClientCert, "sslclientkey", t.ClientKey, "sslcacert", t.CACert, "err", err)
	} else if e != nil {
		c.log.Info("a repo's client certificate, key or CA file changed: read again", "sslclientcert", t.ClientCert, "sslcacert", t.CACert)
	}
	if e != nil && e.tr != nil {
		e.tr.CloseIdleConnections()
	}
	c.set[t] = &certTransport{tr: tr, err: err, stamp: stamp, checked: now}
	return tr, err
}

// load makes the transport of t: base's, with t's CAs instead of the
// system's (and the ca-file setting's) when sslcacert is set, no check of
// the mirror's certificate with sslverify=0, and t's client certificate.
func (c *certTransports) load(t repos.TLS) (*http.Transport, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.base.TLSClientConfig != nil {
		cfg = c.base.TLSClientConfig.Clone()
	}
	if t.CACert != "" {
		b, err := c.read("sslcacert", t.CACert, maxCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("sslcacert %s: no PEM certificate in it", t.CACert)
		}
		cfg.RootCAs = pool
	}
	// As librepo does with sslverify=0 (SSL_VERIFYPEER and
	// SSL_VERIFYHOST off).
	cfg.InsecureSkipVerify = t.NoVerify
	if t.ClientCert != "" {
		cert, err := c.read("sslclientcert", t.ClientCert, maxCertFile)
		if err != nil {
			return nil, err
		}
		key := cert
		if t.ClientKey != "" {
			if key, err = c.read("sslclientkey", t.ClientKey, maxCertFile); err != nil {
				return nil, err
			}
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("sslclientcert %s, sslclientkey %s: %w", t.ClientCert, t.ClientKey, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr := c.base.Clone()
	tr.TLSClientConfig = cfg
	return tr, nil
}

// credentialNames are the names under $CREDENTIALS_DIRECTORY a file at
// path p is looked for by, in order: its base name (LoadCredential=NAME:p
// with NAME that base name), then its folder's base name, '_' and its
// base name (LoadCredential=FOLDER:DIR of a whole folder, which systemd
// names FOLDER_FILE).
func credentialNames(p string) []string {
	base := filepath.Base(p)
	return []string{base, filepath.Base(filepath.Dir(p)) + "_" + base}
}

// find is where the agent reads the file at path p: p itself when it can
// open it, else the first credential of credentialNames that exists.
func (c *certTransports) find(p string) string {
	f, err := os.Open(p)
	if err == nil {
		f.Close()
		return p
	}
	if c.credDir != "" {
		for _, n := range credentialNames(p) {
			cp := filepath.Join(c.credDir, n)
			if _, err := os.Stat(cp); err == nil {
				return cp
			}
		}
	}
	return p
}

// read reads the file at p (or its credential, see find), of at most
// limit bytes. key names the option, for the error.
func (c *certTransports) read(key, p string, limit int64) ([]byte, error) {
	at := c.find(p)
	b, err := readCapped(at, limit)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			err = fmt.Errorf("%w (the agent's user may not read it: give it through LoadCredential= or a group)", err)
		}
		return nil, fmt.Errorf("%s %s: %w", key, p, err)
	}
	return b, nil
}

// readCapped reads the regular file at p, of at most limit bytes.
func readCapped(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, limit)
	}
	return b, nil
}

// stamp identifies the files of t as they are now (where each is read
// from, its size, time and inode, or why it is not there).
func (c *certTransports) stamp(t repos.TLS) string {
	var b strings.Builder
	for _, p := range []string{t.ClientCert, t.ClientKey, t.CACert} {
		if p == "" {
			b.WriteString("|")
			continue
		}
		at := c.find(p)
		fi, err := os.Stat(at)
		if err != nil {
			fmt.Fprintf(&b, "%s:%v|", at, err)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d:%v|", at, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
	}
	return b.String()
}

// inode is the inode number of fi, 0 when unknown.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
