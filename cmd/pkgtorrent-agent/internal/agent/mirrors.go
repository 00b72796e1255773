package agent

import (
	"bufio"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// rescanEvery bounds how often a request for an unknown mirror reads the
// repo files again.
const rescanEvery = 10 * time.Second

// Mirrors is the allow-list: the mirrors named in the settings and those
// in the baseurl lines of the repo files. Anything else gets 403, so that
// the agent is not a proxy to any URL for every local user.
type Mirrors struct {
	fixed    []settings.Mirror
	reposDir string
	log      *slog.Logger

	mu      sync.Mutex
	repos   []settings.Mirror
	scanned time.Time
}

// NewMirrors makes the allow-list of cfg.Allow and the repo files of
// cfg.ReposDir.
func NewMirrors(cfg settings.Config, log *slog.Logger) *Mirrors {
	m := &Mirrors{reposDir: cfg.ReposDir, log: log}
	for _, a := range cfg.Allow {
		if mm, err := settings.ParseMirror(a); err == nil {
			m.fixed = append(m.fixed, mm)
		}
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
	if match(m.repos, scheme, host, path) {
		return true
	}
	if m.reposDir != "" && time.Since(m.scanned) >= rescanEvery {
		m.scanLocked()
		return match(m.repos, scheme, host, path)
	}
	return false
}

func match(ms []settings.Mirror, scheme, host, path string) bool {
	for _, m := range ms {
		if m.Scheme == scheme && m.Host == host && strings.HasPrefix(path, m.Path) {
			return true
		}
	}
	return false
}

func (m *Mirrors) scan() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scanLocked()
}

func (m *Mirrors) scanLocked() {
	m.scanned = time.Now()
	if m.reposDir == "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(m.reposDir, "*.repo"))
	if err != nil {
		return
	}
	var found []settings.Mirror
	for _, f := range files {
		for _, u := range RepoBaseURLs(f) {
			if mm, ok := mirrorOf(u); ok {
				found = append(found, mm)
			}
		}
	}
	m.repos = found
}

// mirrorOf makes an allowed mirror of a baseurl: the URL up to its first
// dnf variable ($releasever, $basearch...), cut back to a folder. Agents'
// own URLs (/m/ on a loopback host) are left out.
func mirrorOf(u string) (settings.Mirror, bool) {
	if i := strings.IndexByte(u, '$'); i >= 0 {
		u = u[:strings.LastIndexByte(u[:i], '/')+1]
	}
	mm, err := settings.ParseMirror(u)
	if err != nil {
		return mm, false
	}
	h := mm.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if ip := net.ParseIP(h); ((ip != nil && ip.IsLoopback()) || h == "localhost") && strings.HasPrefix(mm.Path, "/m/") {
		return mm, false
	}
	return mm, true
}

// RepoBaseURLs returns the URLs of the baseurl lines of a yum/dnf .repo
// file: several per line (spaces or commas) and on indented
// continuation lines.
func RepoBaseURLs(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var urls []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if in && line != "" && (line[0] == ' ' || line[0] == '\t') {
			urls = append(urls, strings.FieldsFunc(line, splitURLs)...)
			continue
		}
		in = false
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "baseurl" {
			in = true
			urls = append(urls, strings.FieldsFunc(v, splitURLs)...)
		}
	}
	return urls
}

func splitURLs(r rune) bool { return r == ' ' || r == '\t' || r == ',' }
