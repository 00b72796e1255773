package agent

import (
	"log/slog"
	"os"
	"path/filepath"
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
// local user.
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

// scanLocked reads the mirrors of the repo files. A file dnf would not
// read (see repos.BaseURLs) gives none.
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
		src, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		urls, err := repos.BaseURLs(src)
		if err != nil {
			m.log.Debug("a repo file dnf would not read: its mirrors are not allowed", "file", f, "err", err)
			continue
		}
		for _, u := range urls {
			if mm, ok := repos.Mirror(u); ok {
				found = append(found, mm)
			}
		}
	}
	m.repos = found
}
