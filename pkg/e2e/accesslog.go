package e2e

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// LogLine is one line of the web servers' access logs, written in the
// format `addr [scheme cache] "request" status bytes "user agent"`:
// nginx's with the scheme and its cache status ("-" when it has none),
// Apache's without them.
type LogLine struct {
	Scheme, Cache string // nginx only
	Method        string
	URI           string // as requested
	Path          string // URI without its query
	Status        int
	Bytes         int64 // of the body sent
	Agent         string
}

// AccessLog reads an access log from byte offset off on (see Size),
// failing the test on a line of another format.
func AccessLog(t testing.TB, path string, off int64) []LogLine {
	t.Helper()
	var lines []LogLine
	for _, text := range LogLines(t, path, off) {
		// 127.0.0.1 http HIT "GET /x HTTP/1.1" 206 1024 "aria2/1.36.0"
		head, rest, ok1 := strings.Cut(text, ` "`)
		req, rest, ok2 := strings.Cut(rest, `" `)
		hf, rf, parts := strings.Fields(head), strings.Fields(rest), strings.Fields(req)
		_, ua, ok3 := strings.Cut(rest, `"`)
		if !ok1 || !ok2 || !ok3 || (len(hf) != 1 && len(hf) != 3) || len(rf) < 2 || len(parts) < 2 {
			t.Fatalf("%s: unexpected access log line %q", path, text)
		}
		status, err1 := strconv.Atoi(rf[0])
		n, err2 := strconv.ParseInt(rf[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: unexpected access log line %q", path, text)
		}
		l := LogLine{Method: parts[0], URI: parts[1], Status: status, Bytes: n, Agent: strings.TrimSuffix(ua, `"`)}
		l.Path, _, _ = strings.Cut(l.URI, "?")
		if len(hf) == 3 {
			l.Scheme, l.Cache = hf[1], hf[2]
		}
		lines = append(lines, l)
	}
	return lines
}

// LogLines returns the lines of a log from byte offset off on (see
// Size).
func LogLines(t testing.TB, path string, off int64) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
