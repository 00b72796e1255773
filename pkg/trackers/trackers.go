// Package trackers keeps the list of announce URLs read from the trackers
// file, re-reading it when it changes, checked at most once an interval.
package trackers

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultInterval is how often the file is checked for changes.
const DefaultInterval = time.Minute

// MaxFileSize caps how much of the trackers file is read; the rest is
// ignored with a warning.
const MaxFileSize = 1 << 20

// DefaultMax is how many trackers a torrent gets at most when New is
// given no bound.
const DefaultMax = 100

// List is the current list of trackers. It is safe for concurrent use.
type List struct {
	path     string
	interval time.Duration
	max      int
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	checked time.Time // last time the file was stat'ed
	size    int64
	mtime   time.Time
	read    bool // the file was read at least once with this size and mtime
	urls    []string
}

// New returns a List for the trackers file at path, checked at most once
// per interval (DefaultInterval when zero or negative), of at most max
// trackers (DefaultMax when zero or negative): the first max of the file,
// the others dropped with a warning, so that every torrent stays small
// whatever the file holds.
func New(path string, interval time.Duration, max int, log *slog.Logger) *List {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if max <= 0 {
		max = DefaultMax
	}
	return &List{path: path, interval: interval, max: max, log: log, now: time.Now}
}

// URLs returns the announce URLs, re-reading the file first when the last
// check is older than the interval and its size or mtime changed. A missing
// or empty file gives no trackers and one warning per check.
func (l *List) URLs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.checked.IsZero() && now.Sub(l.checked) < l.interval {
		return l.urls
	}
	l.checked = now
	fi, err := os.Stat(l.path)
	if err != nil {
		if l.read {
			l.mtime = now // the list changed now: it lost its trackers
		}
		l.urls, l.read = nil, false
		l.log.Warn("trackers file unreadable: torrents get web seeds only", "path", l.path, "err", err)
		return nil
	}
	if l.read && fi.Size() == l.size && fi.ModTime().Equal(l.mtime) {
		if len(l.urls) == 0 {
			l.log.Warn("trackers file lists no trackers: torrents get web seeds only", "path", l.path)
		}
		return l.urls
	}
	urls, err := l.load()
	if err != nil {
		if l.read {
			l.mtime = now
		}
		l.urls, l.read = nil, false
		l.log.Warn("trackers file unreadable: torrents get web seeds only", "path", l.path, "err", err)
		return nil
	}
	l.urls, l.read, l.size, l.mtime = urls, true, fi.Size(), fi.ModTime()
	if len(urls) == 0 {
		l.log.Warn("trackers file lists no trackers: torrents get web seeds only", "path", l.path)
	} else {
		l.log.Info("trackers file read", "path", l.path, "trackers", len(urls))
	}
	return urls
}

// ModTime returns when the list last changed as far as it knows: the
// trackers file's mtime when it was last read, or the time the file was
// found gone. Zero before the first URLs call or when there never was a file.
func (l *List) ModTime() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mtime
}

// maxSkipWarnings bounds the warnings about skipped lines per reading, so
// that a file of garbage does not flood the log.
const maxSkipWarnings = 10

func (l *List) load() ([]string, error) {
	// O_NONBLOCK: a fifo put in its place must not hang every request.
	f, err := os.OpenFile(l.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", l.path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v)", l.path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.path, err)
	}
	if len(data) > MaxFileSize {
		l.log.Warn("trackers file too large: reading its first part only", "path", l.path, "limit", MaxFileSize)
		// Drop the line the limit cuts: its start could pass for a URL.
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	skipped := 0
	urls := Parse(data, func(lineNo int, line, why string) {
		skipped++
		if skipped <= maxSkipWarnings {
			l.log.Warn("trackers file: line skipped", "path", l.path, "line", lineNo, "text", line, "why", why)
		}
	})
	if skipped > maxSkipWarnings {
		l.log.Warn("trackers file: more lines skipped", "path", l.path, "more", skipped-maxSkipWarnings)
	}
	if len(urls) > l.max {
		l.log.Warn("trackers file lists too many trackers: using the first ones only (setting max-trackers)",
			"path", l.path, "trackers", len(urls), "max", l.max)
		urls = urls[:l.max:l.max]
	}
	return urls, nil
}

// Parse returns the announce URLs in data, one per line. Blank lines and
// lines starting with "#" are skipped silently; a line that is not an
// http, https or udp URL with a host, in printable ASCII and without a
// user name or password, is skipped and reported to skip. Duplicates keep
// their first place.
func Parse(data []byte, skip func(lineNo int, line, why string)) []string {
	var urls []string
	seen := make(map[string]bool)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if why := check(line); why != "" {
			if skip != nil {
				skip(n, truncate(line, 200), why)
			}
			continue
		}
		if !seen[line] {
			seen[line] = true
			urls = append(urls, line)
		}
	}
	return urls
}

func check(line string) string {
	for _, r := range line {
		if r < 0x21 || r == 0x7f {
			return "contains a space or control character"
		}
		if r > 0x7f {
			return "not printable ASCII (write international host names in punycode, other bytes %-encoded)"
		}
	}
	u, err := url.Parse(line)
	if err != nil {
		return "not a URL"
	}
	if u.User != nil {
		// It would be handed to every client in every torrent.
		return "URL carries a user name or password"
	}
	switch u.Scheme {
	case "http", "https", "udp":
	default:
		return "not an http, https or udp URL"
	}
	if u.Hostname() == "" {
		return "URL has no host"
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
