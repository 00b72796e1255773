package trackers

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type skipped struct {
	line int
	text string
	why  string
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		want     []string
		wantSkip []skipped
	}{
		{"empty", "", nil, nil},
		{"blank lines and comments", "\n   \n# a comment\n\t# indented comment\n\n", nil, nil},
		{"schemes accepted", "http://t1.example/announce\nhttps://t2.example:443/announce\nudp://t3.example:6969\n",
			[]string{"http://t1.example/announce", "https://t2.example:443/announce", "udp://t3.example:6969"}, nil},
		{"surrounding spaces and CRLF trimmed", "  http://t1.example/announce \r\n\tudp://t2.example:6969\t\r\n",
			[]string{"http://t1.example/announce", "udp://t2.example:6969"}, nil},
		{"upper-case scheme", "HTTP://T1.example/announce\n", []string{"HTTP://T1.example/announce"}, nil},
		{"duplicates keep their first place", "udp://b:1\nhttp://a/announce\nudp://b:1\nhttp://a/announce\n",
			[]string{"udp://b:1", "http://a/announce"}, nil},
		{"no trailing newline", "http://a/announce", []string{"http://a/announce"}, nil},
		{"ftp rejected", "http://a/announce\nftp://files.example/x\n", []string{"http://a/announce"},
			[]skipped{{2, "ftp://files.example/x", "not an http, https or udp URL"}}},
		{"no scheme rejected", "\ntracker.example.com/announce\n", nil,
			[]skipped{{2, "tracker.example.com/announce", "not an http, https or udp URL"}}},
		{"host:port without scheme rejected", "tracker.example.com:6969\n", nil,
			[]skipped{{1, "tracker.example.com:6969", "not an http, https or udp URL"}}},
		{"no host rejected", "http:///announce\n", nil,
			[]skipped{{1, "http:///announce", "URL has no host"}}},
		{"port without host rejected", "# x\nudp://:6969\n", nil,
			[]skipped{{2, "udp://:6969", "URL has no host"}}},
		{"opaque URL rejected", "http:tracker\n", nil,
			[]skipped{{1, "http:tracker", "URL has no host"}}},
		{"garbage with spaces rejected", "this is not a url\n", nil,
			[]skipped{{1, "this is not a url", "contains a space or control character"}}},
		{"control character rejected", "http://a/ann\x01ounce\n", nil,
			[]skipped{{1, "http://a/ann\x01ounce", "contains a space or control character"}}},
		{"bad escape rejected", "http://a/%zz\n", nil,
			[]skipped{{1, "http://a/%zz", "not a URL"}}},
		{"line numbers count blank and comment lines", "\n#c\nhttp://a/announce\n\nbogus\nudp://b:1\nftp://c/\n",
			[]string{"http://a/announce", "udp://b:1"},
			[]skipped{
				{5, "bogus", "not an http, https or udp URL"},
				{7, "ftp://c/", "not an http, https or udp URL"},
			}},
		{"non-ASCII host rejected", "udp://tr\u00e4cker.example:6969\nudp://xn--trcker-gua.example:6969\n", []string{"udp://xn--trcker-gua.example:6969"},
			[]skipped{{1, "udp://tr\u00e4cker.example:6969", "not printable ASCII (write international host names in punycode, other bytes %-encoded)"}}},
		{"invalid UTF-8 rejected", "http://a/\xff\xfe\n", nil,
			[]skipped{{1, "http://a/\xff\xfe", "not printable ASCII (write international host names in punycode, other bytes %-encoded)"}}},
		{"user and password rejected", "http://user:secret@t.example/announce\nudp://user@t.example:1\n", nil,
			[]skipped{{1, "http://user:secret@t.example/announce", "URL carries a user name or password"},
				{2, "udp://user@t.example:1", "URL carries a user name or password"}}},
		{"long line shortened in the report", "ftp://" + strings.Repeat("x", 300) + "\n", nil,
			[]skipped{{1, "ftp://" + strings.Repeat("x", 194) + "...", "not an http, https or udp URL"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotSkip []skipped
			got := Parse([]byte(tt.data), func(n int, line, why string) {
				gotSkip = append(gotSkip, skipped{n, line, why})
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse = %q, want %q", got, tt.want)
			}
			if !slices.Equal(gotSkip, tt.wantSkip) {
				t.Errorf("skipped = %+v, want %+v", gotSkip, tt.wantSkip)
			}
			// A nil callback must be allowed and give the same URLs.
			if got2 := Parse([]byte(tt.data), nil); !slices.Equal(got2, tt.want) {
				t.Errorf("Parse with a nil callback = %q, want %q", got2, tt.want)
			}
		})
	}
}

// clock is a fake time source for List.now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time            { return c.t }
func (c *clock) advance(d time.Duration)   { c.t = c.t.Add(d) }
func newClock() *clock                     { return &clock{t: time.Unix(1700000000, 0)} }
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

func writeTrackers(t *testing.T, name, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func newList(t *testing.T, name string, buf *bytes.Buffer) (*List, *clock) {
	t.Helper()
	l := New(name, time.Minute, 0, logTo(buf))
	c := newClock()
	l.now = c.now
	return l, c
}

func TestNewInterval(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, DefaultInterval},
		{-time.Second, DefaultInterval},
		{5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		if l := New("x", tt.in, 0, slog.New(slog.DiscardHandler)); l.interval != tt.want {
			t.Errorf("New(interval %v).interval = %v, want %v", tt.in, l.interval, tt.want)
		}
	}
}

// TestListRereads walks a List through changes of its file and of the time.
func TestListRereads(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	var buf bytes.Buffer
	l, c := newList(t, name, &buf)
	t1 := time.Unix(1600000000, 0)
	t2 := t1.Add(time.Hour)
	// Same length on purpose: only the mtime tells the versions apart.
	writeTrackers(t, name, "http://aa/announce\n", t1)

	step := func(what string, want ...string) {
		t.Helper()
		if got := l.URLs(); !slices.Equal(got, want) {
			t.Errorf("%s: URLs() = %q, want %q", what, got, want)
		}
	}
	step("first call reads the file", "http://aa/announce")
	if !strings.Contains(buf.String(), "trackers file read") {
		t.Errorf("log = %q, want a line saying the trackers file was read", buf.String())
	}

	writeTrackers(t, name, "http://bb/announce\n", t1)
	c.advance(2 * time.Minute)
	step("content changed, same size and mtime", "http://aa/announce")

	writeTrackers(t, name, "http://bb/announce\n", t2)
	c.advance(30 * time.Second)
	step("mtime changed, checked 30 s ago", "http://aa/announce")
	c.advance(29 * time.Second)
	step("mtime changed, checked 59 s ago", "http://aa/announce")
	c.advance(time.Second)
	step("mtime changed, interval passed", "http://bb/announce")

	writeTrackers(t, name, "http://ccc/announce\nudp://d:1\n", t2)
	c.advance(time.Minute)
	step("size changed, same mtime", "http://ccc/announce", "udp://d:1")

	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	step("removed, within the interval", "http://ccc/announce", "udp://d:1")
	buf.Reset()
	c.advance(time.Minute)
	step("removed, interval passed")
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "trackers file unreadable") {
		t.Errorf("log = %q, want a warning that the file is unreadable", buf.String())
	}

	writeTrackers(t, name, "http://ccc/announce\nudp://d:1\n", t2)
	c.advance(time.Minute)
	step("back with the old size and mtime is read again", "http://ccc/announce", "udp://d:1")
}

func TestListMissingFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	var buf bytes.Buffer
	l, c := newList(t, name, &buf)
	if got := l.URLs(); got != nil {
		t.Errorf("URLs() of a missing file = %q, want none", got)
	}
	log := buf.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "trackers file unreadable") || !strings.Contains(log, name) {
		t.Errorf("log = %q, want a warning naming %s", log, name)
	}
	buf.Reset()
	l.URLs()
	if buf.Len() != 0 {
		t.Errorf("second call within the interval logged %q, want nothing", buf.String())
	}
	writeTrackers(t, name, "udp://t:1\n", time.Unix(1600000000, 0))
	c.advance(time.Minute)
	if got, want := l.URLs(), []string{"udp://t:1"}; !slices.Equal(got, want) {
		t.Errorf("URLs() once the file exists = %q, want %q", got, want)
	}
}

func TestListNoTrackers(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"empty file", ""},
		{"comments only", "# none yet\n\n"},
		{"only bad lines", "ftp://x/\nnot a url\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "trackers")
			writeTrackers(t, name, tt.content, time.Unix(1600000000, 0))
			var buf bytes.Buffer
			l, c := newList(t, name, &buf)
			if got := l.URLs(); len(got) != 0 {
				t.Errorf("URLs() = %q, want none", got)
			}
			if !strings.Contains(buf.String(), "lists no trackers") {
				t.Errorf("log = %q, want a warning that the file lists no trackers", buf.String())
			}
			buf.Reset()
			c.advance(time.Minute)
			if got := l.URLs(); len(got) != 0 {
				t.Errorf("URLs() on the next check = %q, want none", got)
			}
			if !strings.Contains(buf.String(), "lists no trackers") {
				t.Errorf("log of the next check = %q, want the warning again", buf.String())
			}
		})
	}
}

func TestListSkippedLinesLogged(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	writeTrackers(t, name, "http://a/announce\nftp://b/\n", time.Unix(1600000000, 0))
	var buf bytes.Buffer
	l, _ := newList(t, name, &buf)
	if got, want := l.URLs(), []string{"http://a/announce"}; !slices.Equal(got, want) {
		t.Errorf("URLs() = %q, want %q", got, want)
	}
	log := buf.String()
	if !strings.Contains(log, "line skipped") || !strings.Contains(log, "line=2") || !strings.Contains(log, "ftp://b/") {
		t.Errorf("log = %q, want a warning for line 2 ftp://b/", log)
	}
}

func TestListHugeFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	var b strings.Builder
	b.WriteString("http://first/announce\n")
	for b.Len() < MaxFileSize-100 {
		b.WriteString("# padding padding padding padding padding padding padding padding\n")
	}
	// This line crosses the limit: its start is kept, cut, and rejected.
	b.WriteString(strings.Repeat("#", MaxFileSize-b.Len()-10) + "\nudp://crossing-the-limit:1\n")
	b.WriteString("http://beyond/announce\n")
	writeTrackers(t, name, b.String(), time.Unix(1600000000, 0))
	var buf bytes.Buffer
	l, _ := newList(t, name, &buf)
	got := l.URLs()
	if want := []string{"http://first/announce"}; !slices.Equal(got, want) {
		t.Errorf("URLs() of a file over %d bytes = %q, want %q", MaxFileSize, got, want)
	}
	if !strings.Contains(buf.String(), "too large") {
		t.Errorf("log = %q, want a warning that the file is too large", buf.String())
	}
}

// TestListCapped reads a trackers file of 100 000 distinct URLs (issue
// 11, item 7: all that fitted in its first MiB went into every torrent,
// 58 871 trackers and 1.6 MB a torrent): the list holds the first max, and
// the log says that the others were dropped.
func TestListCapped(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	var b strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&b, "udp://t%d.example:6969\n", i)
	}
	writeTrackers(t, name, b.String(), time.Unix(1600000000, 0))
	// The first MiB holds 40 757 whole lines: 10 of 22 bytes (t0-t9), 90
	// of 23, 900 of 24, 9 000 of 25 (248 890 bytes), then 799 686 / 26.
	const inFirstMiB = 10 + 90 + 900 + 9000 + 30757
	for _, tc := range []struct{ max, want int }{{0, DefaultMax}, {3, 3}, {100000, inFirstMiB}} {
		var buf bytes.Buffer
		l := New(name, time.Minute, tc.max, logTo(&buf))
		got := l.URLs()
		if len(got) != tc.want || got[0] != "udp://t0.example:6969" || got[len(got)-1] != fmt.Sprintf("udp://t%d.example:6969", tc.want-1) {
			t.Errorf("max %d: %d URLs (%q ... %q), want the first %d", tc.max, len(got), got[0], got[len(got)-1], tc.want)
		}
		if warned := strings.Contains(buf.String(), "too many trackers"); warned != (tc.want < inFirstMiB) {
			t.Errorf("max %d: warning about too many trackers: %v; log %q", tc.max, warned, buf.String())
		}
	}
}

// TestListHugeFileLineAtTheLimit checks that a line ending right at the
// limit is whole, and kept.
func TestListHugeFileLineAtTheLimit(t *testing.T) {
	const last = "udp://last-whole-line:1"
	name := filepath.Join(t.TempDir(), "trackers")
	var b strings.Builder
	b.WriteString("http://first/announce\n")
	b.WriteString(strings.Repeat("#", MaxFileSize-b.Len()-len(last)-1) + "\n")
	b.WriteString(last) // its last byte is byte MaxFileSize-1
	b.WriteString("\nhttp://beyond/announce\n")
	writeTrackers(t, name, b.String(), time.Unix(1600000000, 0))
	var buf bytes.Buffer
	l, _ := newList(t, name, &buf)
	if got, want := l.URLs(), []string{"http://first/announce", last}; !slices.Equal(got, want) {
		t.Errorf("URLs() = %q, want %q", got, want)
	}
}

// TestListHugeSingleLine checks a file that is one line over the limit.
func TestListHugeSingleLine(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	writeTrackers(t, name, "http://x/"+strings.Repeat("a", MaxFileSize), time.Unix(1600000000, 0))
	var buf bytes.Buffer
	l, _ := newList(t, name, &buf)
	if got := l.URLs(); len(got) != 0 {
		t.Errorf("URLs() = %.60q, want none", got)
	}
}

func TestListBinaryGarbage(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	r := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	garbage = append(garbage, "\nhttp://real/announce\n"...)
	if err := os.WriteFile(name, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l, _ := newList(t, name, &buf)
	got := l.URLs()
	if !slices.Contains(got, "http://real/announce") {
		t.Errorf("URLs() = %q, want it to hold http://real/announce", got)
	}
	for _, u := range got {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "udp") || pu.Hostname() == "" {
			t.Errorf("URLs() holds %q, not an http, https or udp URL with a host", u)
		}
	}
}

// TestListConcurrent runs URLs from several goroutines while the clock and
// the file change, for the race detector.
func TestListConcurrent(t *testing.T) {
	name := filepath.Join(t.TempDir(), "trackers")
	writeTrackers(t, name, "http://a/announce\n", time.Unix(1600000000, 0))
	l := New(name, time.Nanosecond, 0, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if got := l.URLs(); len(got) > 2 {
					t.Errorf("URLs() = %q, want at most 2 trackers", got)
					return
				}
			}
		})
	}
	for i := range 50 {
		content := "http://a/announce\n"
		if i%2 == 1 {
			content += "udp://b:1\n"
		}
		writeTrackers(t, name, content, time.Unix(1600000000+int64(i), 0))
	}
	wg.Wait()
}
