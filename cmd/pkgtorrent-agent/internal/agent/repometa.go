package agent

import (
	"compress/bzip2"
	"compress/gzip"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// What dnf will check of a package, learned from the repo metadata dnf
// itself fetches through the agent: each repo's primary.xml, passed
// through unchanged, is also read (after the answer is complete, from a
// copy in the store) for every package's location, size and SHA-256.
// That is the only source of the sizes and digests the agent checks: a
// torrent whose length differs is not used (the request passes through),
// and a whole read of a file whose digest differs loses its last bytes,
// so that dnf takes it from its next URL. What a caller posts to
// /prefetch is checked against it, never stored: a wrong digest can only
// cost the caller its own prefetch.
//
// Bounds: a primary.xml over maxPrimarySize (compressed) or
// maxPrimaryPackages packages is not read; maxRepos repos are kept, the
// least recently learned dropped first. The agent learns again whenever
// dnf fetches the metadata (after a restart, at dnf's next metadata
// refresh); until then nothing is checked beyond the torrent's SHA-1s.

const (
	maxPrimarySize     = 256 << 20
	maxPrimaryPackages = 500000
	maxRepos           = 64
)

// fileMeta is what the repo metadata says of a package.
type fileMeta struct {
	size   int64
	sha256 []byte // nil when the metadata gives another checksum type
}

// repoMeta holds what the repos' primary.xml say, per repo.
type repoMeta struct {
	// learning holds a slot per primary.xml being copied or read.
	learning chan struct{}
	mu       sync.Mutex
	repos    map[string]*repoFiles // by the repo's base URL, ending in "/"
}

type repoFiles struct {
	learned time.Time
	files   map[string]fileMeta // by URL
}

func newRepoMeta() *repoMeta {
	return &repoMeta{learning: make(chan struct{}, 2), repos: map[string]*repoFiles{}}
}

// primaryCompression tells whether p (an unescaped URL path) is a repo's
// primary.xml, and how it is compressed: "", "gz", "zst" or "bz2".
func primaryCompression(p string) (string, bool) {
	dir, base := path.Split(p)
	if !strings.HasSuffix(dir, "/repodata/") {
		return "", false
	}
	for _, c := range []string{"", "gz", "zst", "bz2"} {
		ext := "primary.xml"
		if c != "" {
			ext += "." + c
		}
		if base == ext || strings.HasSuffix(base, "-"+ext) {
			return c, true
		}
	}
	return "", false
}

// lookup returns what the metadata says of the file at fileURL.
func (m *repoMeta) lookup(fileURL string) (fileMeta, bool) {
	key := metaKey(fileURL)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.repos {
		if f, ok := r.files[key]; ok {
			return f, true
		}
	}
	return fileMeta{}, false
}

// metaKey is u with its path unescaped and cleaned, the form the
// metadata's locations are kept in.
func metaKey(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	return pu.Scheme + "://" + strings.ToLower(pu.Host) + path.Clean("/"+pu.Path)
}

// learnFile reads the primary.xml at name (compressed as comp), fetched
// from primaryURL, and replaces what is known of its repo.
func (m *repoMeta) learnFile(name, comp, primaryURL string) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	switch comp {
	case "gz":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	case "zst":
		zr, err := zstd.NewReader(f, zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	case "bz2":
		r = bzip2.NewReader(f)
	}
	// The repo's base: the folder that holds repodata/.
	key := metaKey(primaryURL)
	base := key[:strings.LastIndex(key, "/repodata/")+1]
	files, err := parsePrimary(r, base)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.repos[base]; !ok && len(m.repos) >= maxRepos {
		oldest := ""
		for b, r := range m.repos {
			if oldest == "" || r.learned.Before(m.repos[oldest].learned) {
				oldest = b
			}
		}
		delete(m.repos, oldest)
	}
	m.repos[base] = &repoFiles{learned: time.Now(), files: files}
	return len(files), nil
}

var errTooManyPackages = errors.New("too many packages")

// parsePrimary reads primary.xml's packages: location href (relative to
// base, or to the package's xml:base), size package= and checksum
// type="sha256".
func parsePrimary(r io.Reader, base string) (map[string]fileMeta, error) {
	dec := xml.NewDecoder(r)
	files := map[string]fileMeta{}
	var cur fileMeta
	var href, hrefBase string
	inChecksum, sha := false, false
	var sum strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("primary.xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "package":
				cur, href, hrefBase = fileMeta{}, "", ""
			case "checksum":
				inChecksum, sha = true, attr(t, "type") == "sha256"
				sum.Reset()
			case "size":
				cur.size, _ = strconv.ParseInt(attr(t, "package"), 10, 64)
			case "location":
				href, hrefBase = attr(t, "href"), attr(t, "base")
			}
		case xml.CharData:
			if inChecksum && sum.Len() < 128 {
				sum.Write(t)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "checksum":
				inChecksum = false
				if b, err := hex.DecodeString(strings.TrimSpace(sum.String())); sha && err == nil && len(b) == 32 {
					cur.sha256 = b
				}
			case "package":
				if href == "" || cur.size <= 0 {
					continue
				}
				b := base
				if hrefBase != "" {
					b = metaKey(strings.TrimSuffix(hrefBase, "/") + "/")
					if !strings.HasSuffix(b, "/") {
						b += "/"
					}
				}
				files[metaKey(b+href)] = cur
				if len(files) > maxPrimaryPackages {
					return nil, fmt.Errorf("primary.xml: %w (over %d)", errTooManyPackages, maxPrimaryPackages)
				}
			}
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// primaryTee copies a primary.xml answer, as it passes through, into a
// file of the store, and has it learned once the answer is complete.
type primaryTee struct {
	io.ReadCloser
	f            *os.File
	n, want      int64
	comp, srcURL string
	meta         *repoMeta
	log          interface{ Info(string, ...any) }
	done         bool
}

func (t *primaryTee) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if t.f != nil && n > 0 {
		if t.n += int64(n); t.n > maxPrimarySize {
			t.discard()
		} else if _, werr := t.f.Write(p[:n]); werr != nil {
			t.discard()
		}
	}
	if err == io.EOF && t.f != nil && (t.want < 0 || t.n == t.want) {
		t.done = true
	}
	return n, err
}

func (t *primaryTee) discard() {
	if t.f != nil {
		t.f.Close()
		os.Remove(t.f.Name())
		t.f = nil
		<-t.meta.learning
	}
}

func (t *primaryTee) Close() error {
	err := t.ReadCloser.Close()
	if t.f == nil {
		return err
	}
	if !t.done {
		t.discard()
		return err
	}
	f := t.f
	t.f = nil
	f.Close()
	go func() {
		defer func() { <-t.meta.learning }()
		defer os.Remove(f.Name())
		n, err := t.meta.learnFile(f.Name(), t.comp, t.srcURL)
		if err != nil {
			t.log.Info("repo metadata not read: its packages' sizes and digests are not checked", "url", t.srcURL, "err", err)
			return
		}
		t.log.Info("repo metadata read", "url", t.srcURL, "packages", n)
	}()
	return err
}
