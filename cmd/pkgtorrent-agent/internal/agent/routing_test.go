package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestRouting: each endpoint answers its methods, others get 405 with
// Allow (or 404 where the path is unknown for them), and a mirror path
// is taken as dnf sent it, empty segments and all, not redirected.
func TestRouting(t *testing.T) {
	a := startAgent(t, t.TempDir(), []string{"http://mirror.example.org/yum/"})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		method, path string
		status       int
		allow, body  string // body: a prefix
	}{
		{"GET", "/status", 200, "", "{"},
		{"POST", "/status", 404, "", "not found: "},
		{"GET", "/metrics", 200, "", "# HELP"},
		{"GET", "/prefetch", 405, "POST", "only POST\n"},
		{"PUT", "/m/http/mirror.example.org/yum/a.rpm", 405, "GET, HEAD", "only GET and HEAD\n"},
		{"GET", "/m/http/mirror.example.org//yum/a.rpm", 403, "", "forbidden: "},
		{"GET", "/m/http/other.example.org/./yum/a.rpm", 400, "", "bad request: "},
		// The other lanes (repos.Lanes) are the same endpoint.
		{"PUT", "/m4/http/mirror.example.org/yum/a.rpm", 405, "GET, HEAD", "only GET and HEAD\n"},
		{"GET", "/m7/http/other.example.org/yum/a.rpm", 403, "", "forbidden: "},
		{"GET", "/m1/http/mirror.example.org/yum/a.rpm", 404, "", "not found: "},
		{"GET", "/m", 404, "", "not found: "},
		{"GET", "/nope", 404, "", "not found: "},
	} {
		req, err := http.NewRequest(c.method, a.srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || !strings.HasPrefix(string(b), c.body) {
			t.Errorf("%s %s: %d, Allow %q, body %.40q; want %d, Allow %q, body %q...",
				c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), b, c.status, c.allow, c.body)
		}
	}
}

// TestPprof: the pprof setting serves Go's profiles at /debug/pprof/ and
// the engine's counters at /debug/vars on the HTTP endpoint; without it,
// 404.
func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		a := startAgent(t, t.TempDir(), nil, func(c *settings.Config) { c.Pprof = on })
		resp, b := get(t, a.srv.URL+"/debug/pprof/goroutine?debug=1")
		switch {
		case on && (resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "goroutine profile: total")):
			t.Errorf("pprof on: %d, %.60q; want 200 and the goroutine profile", resp.StatusCode, b)
		case !on && resp.StatusCode != http.StatusNotFound:
			t.Errorf("pprof off: %d, want 404", resp.StatusCode)
		}
		resp, b = get(t, a.srv.URL+"/debug/vars")
		var vars map[string]json.RawMessage
		switch {
		case on && (resp.StatusCode != http.StatusOK || json.Unmarshal(b, &vars) != nil || vars["torrent"] == nil):
			t.Errorf("/debug/vars with pprof on: %d, %.60q; want 200 and JSON with the engine's \"torrent\" counters", resp.StatusCode, b)
		case !on && resp.StatusCode != http.StatusNotFound:
			t.Errorf("/debug/vars with pprof off: %d, want 404", resp.StatusCode)
		}
	}
}
