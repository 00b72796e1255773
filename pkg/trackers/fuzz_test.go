package trackers

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every URL it returns is
// an http, https or udp URL with a host and no spaces, without duplicates,
// and that every skipped line is reported with a line number that exists.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"http://tracker.example/announce\nudp://tracker.example:6969\n",
		"# comment\n\nhttps://t.example:443/announce\r\n",
		"ftp://x/\nnot a url\nhttp:///nohost\nudp://:1\n",
		"http://a/announce\nhttp://a/announce\n",
		"HTTP://A/%zz\n\x00\xff\xfe",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + 1
		got := Parse(data, func(n int, line, why string) {
			if n < 1 || n > lines {
				t.Errorf("skip reported line %d, want 1..%d", n, lines)
			}
			if why == "" {
				t.Errorf("skip of line %d %q has no reason", n, line)
			}
		})
		seen := make(map[string]bool)
		for _, s := range got {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("Parse returned %q, which does not parse: %v", s, err)
			}
			if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "udp" {
				t.Fatalf("Parse returned %q with scheme %q, want http, https or udp", s, u.Scheme)
			}
			if u.Hostname() == "" {
				t.Fatalf("Parse returned %q without a host", s)
			}
			if strings.ContainsAny(s, " \t\r\n") {
				t.Fatalf("Parse returned %q, which holds white space", s)
			}
			if seen[s] {
				t.Fatalf("Parse returned %q twice", s)
			}
			seen[s] = true
		}
	})
}
