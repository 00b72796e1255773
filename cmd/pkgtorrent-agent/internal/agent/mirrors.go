package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// rescanEvery bounds how often a request for an unknown mirror reads the
// repo files again.
const rescanEvery = 10 * time.Second

// Mirrors is the allow-list: the mirrors named in the settings and those
// in the baseurl lines of the repo files (repos.Mirror of each). Anything
// else gets 403, so that the agent is not a proxy to any URL for every
// local user. It also says which proxy, if any, the agent reaches each
// mirror through (Proxy), and with which TLS options: the client
// certificate, key and CAs of the repo that names it (TLS, NeedsCert).
type Mirrors struct {
	fixed    []settings.Mirror
	reposDir string
	dnfConf  string
	// service is the service name of the mirrors' torrent URLs
	// (/{top}/{service}/single/{path}): such a URL's TLS and proxy are
	// those of its file's mirror.
	service string
	// proxy is the proxy setting's, when it is set (proxySet): nil for
	// none.
	proxy    *url.URL
	proxySet bool
	log      *slog.Logger

	mu    sync.Mutex
	repos []repoMirror
	// main is dnf.conf's [main] proxy (nil: none), or why it is not
	// usable (mainErr).
	main    *url.URL
	mainErr error
	scanned time.Time
}

// repoMirror is a mirror of a repo file's baseurl and the proxy dnf
// reaches it through for that repo (nil: none), or why that proxy is not
// usable (err); and the TLS options of that repo, or why they are not
// (tlsErr).
type repoMirror struct {
	settings.Mirror
	proxy  *url.URL
	err    error
	tls    repos.TLS
	tlsErr error
	// file and repo name where it comes from, for the log.
	file, repo string
}

// NewMirrors makes the allow-list of cfg.Allow and the repo files of
// cfg.ReposDir, with the proxies of cfg.Proxy, or else of the repo files
// and cfg.DNFConf.
func NewMirrors(cfg settings.Config, log *slog.Logger) *Mirrors {
	m := &Mirrors{reposDir: cfg.ReposDir, dnfConf: cfg.DNFConf, service: cfg.ServiceName, log: log}
	for _, a := range cfg.Allow {
		if mm, err := settings.ParseMirror(a); err == nil {
			m.fixed = append(m.fixed, mm)
		}
	}
	switch cfg.Proxy {
	case "":
	case settings.NoProxy:
		m.proxySet = true
	default:
		// Validate checked it.
		m.proxy, _ = settings.ParseProxy(cfg.Proxy)
		m.proxySet = true
	}
	m.scan()
	return m
}

// Allowed reports whether u (scheme, canonical host and unescaped path)
// is under an allowed mirror.
func (m *Mirrors) Allowed(scheme, host, path string) bool {
	if match(m.fixed, scheme, host, path) {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.repoMirror(scheme, host, path) != nil {
		return true
	}
	if m.reposDir != "" && time.Since(m.scanned) >= rescanEvery {
		m.scanLocked()
		return m.repoMirror(scheme, host, path) != nil
	}
	return false
}

// Proxy is the proxy of the agent's request req to a mirror, for the
// http.Transport of its mirror requests: the proxy setting's when it is
// set; otherwise dnf's, as dnf reaches the URL: that of the first repo
// whose baseurl mirror holds it, else dnf.conf's [main] one. nil for
// none. A proxy the agent cannot use (a scheme it does not speak) is an
// error, and the request fails: it does not go straight to the mirror,
// where dnf would not go either.
func (m *Mirrors) Proxy(req *http.Request) (*url.URL, error) {
	if m.proxySet {
		return m.proxy, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.repoMirrorOf(req.URL); r != nil {
		return r.proxy, r.err
	}
	return m.main, m.mainErr
}

// TLS is the TLS of the agent's requests to u: that of the first repo
// whose baseurl mirror holds u (or, for a torrent URL of the mirror, its
// file), as dnf makes its own (repos.DNFTLS); the zero TLS for a mirror
// of no repo. Options dnf would reject are an error, and the request
// fails.
func (m *Mirrors) TLS(u *url.URL) (repos.TLS, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.repoMirrorOf(u); r != nil {
		return r.tls, r.tlsErr
	}
	return repos.TLS{}, nil
}

// NeedsCert reports whether the repo of the mirror of URL u presents a
// client certificate to it (see TLS): the torrents of its files are
// shared with peers inside the peer-network setting only (Swarm).
func (m *Mirrors) NeedsCert(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.repoMirrorOf(pu)
	return r != nil && r.tls.ClientCert != ""
}

// repoMirrorOf is repoMirror of the URL u, or of the file of u when it is
// a torrent URL of the mirror's service (/{top}/{service}/single/{path}
// for the file /{path}, whose first folder is top). m.mu is held.
func (m *Mirrors) repoMirrorOf(u *url.URL) *repoMirror {
	scheme := u.Scheme
	host := settings.CanonicalHost(scheme, u.Host)
	if r := m.repoMirror(scheme, host, u.Path); r != nil {
		return r
	}
	if m.service == "" {
		return nil
	}
	top, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	file, ok := strings.CutPrefix(rest, m.service+"/single/")
	if !ok || top == "" || !strings.HasPrefix(file, top+"/") {
		return nil
	}
	return m.repoMirror(scheme, host, "/"+file)
}

// ProxyNote says, for the log, which proxy the agent reaches mirrors
// through: the setting's, or dnf's, from dnf.conf and the repo files.
func (m *Mirrors) ProxyNote() string {
	if m.proxySet {
		if m.proxy == nil {
			return "none (proxy setting)"
		}
		return m.proxy.Redacted() + " (proxy setting)"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	note := "none"
	switch {
	case m.mainErr != nil:
		note = "unusable (" + m.mainErr.Error() + ")"
	case m.main != nil:
		note = m.main.Redacted()
	}
	note += " (dnf's)"
	n := 0
	for _, r := range m.repos {
		if r.proxy != nil || r.err != nil {
			n++
		}
	}
	if n > 0 {
		note += fmt.Sprintf(", and their repo's own for %d mirrors", n)
	}
	return note
}

func match(ms []settings.Mirror, scheme, host, path string) bool {
	for _, m := range ms {
		if m.Covers(scheme, host, path) {
			return true
		}
	}
	return false
}

// repoMirror is the first mirror of the repo files under which the URL
// is, or nil. m.mu is held.
func (m *Mirrors) repoMirror(scheme, host, path string) *repoMirror {
	for i := range m.repos {
		if m.repos[i].Covers(scheme, host, path) {
			return &m.repos[i]
		}
	}
	return nil
}

func (m *Mirrors) scan() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scanLocked()
}

// scanLocked reads the mirrors of the repo files, with their proxies,
// and dnf.conf's proxy. A file dnf would not read (see repos.Sources)
// gives none.
func (m *Mirrors) scanLocked() {
	m.scanned = time.Now()
	var main, mainTLS map[string]string
	m.main, m.mainErr = nil, nil
	if m.dnfConf != "" {
		src, err := os.ReadFile(m.dnfConf)
		if err == nil {
			main, err = repos.MainProxy(src)
		}
		if err == nil {
			mainTLS, err = repos.MainTLS(src)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			m.log.Warn("dnf's configuration unread: its proxy and TLS options, if any, are not followed", "dnf-conf", m.dnfConf, "err", err)
		case m.proxySet:
		default:
			m.main, m.mainErr = repos.DNFProxy(main, nil)
			if m.mainErr != nil {
				m.log.Warn("dnf's proxy is not one the agent can use: requests to mirrors that dnf reaches through it fail, and dnf takes them from its next URL",
					"dnf-conf", m.dnfConf, "err", m.mainErr)
			}
		}
	}
	m.repos = nil
	if m.reposDir == "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(m.reposDir, "*.repo"))
	if err != nil {
		return
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		rs, err := repos.Sources(src)
		if err != nil {
			m.log.Debug("a repo file dnf would not read: its mirrors are not allowed", "file", f, "err", err)
			continue
		}
		for _, r := range rs {
			rm := repoMirror{file: f, repo: r.ID}
			rm.tls, rm.tlsErr = repos.DNFTLS(mainTLS, r.TLS)
			if rm.tlsErr != nil {
				m.log.Warn("a repo's TLS options are not ones the agent can follow: requests to its https mirrors fail, and dnf takes them from its next URL",
					"file", f, "repo", r.ID, "err", rm.tlsErr)
			}
			if !m.proxySet {
				rm.proxy, rm.err = repos.DNFProxy(main, r.Proxy)
				if rm.err != nil && r.Proxy["proxy"] != "" {
					m.log.Warn("a repo's proxy is not one the agent can use: requests to its mirrors fail, and dnf takes them from its next URL",
						"file", f, "repo", r.ID, "err", rm.err)
				}
			}
			for _, u := range r.URLs {
				mm, ok := repos.Mirror(u)
				if !ok {
					continue
				}
				rm.Mirror = mm
				if i := slices.IndexFunc(m.repos, func(o repoMirror) bool { return o.Mirror == mm }); i >= 0 {
					// The first repo that names a mirror gives its proxy
					// and TLS (repoMirror finds it first).
					if o := m.repos[i]; o.tls != rm.tls || (o.tlsErr == nil) != (rm.tlsErr == nil) {
						m.log.Warn("two repos name the same mirror with different TLS options (client certificate, key, CAs, sslverify): the agent uses the first repo's for it",
							"mirror", mm.Scheme+"://"+mm.Host+mm.Path, "used", o.file+" ["+o.repo+"]", "ignored", f+" ["+r.ID+"]")
					}
					continue
				}
				m.repos = append(m.repos, rm)
			}
		}
	}
}
