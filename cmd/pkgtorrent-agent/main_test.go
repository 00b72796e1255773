package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestHelp: -h exits 0 and lists every setting with its default, on
// stderr.
func TestHelp(t *testing.T) {
	stdout, help, code := runAgent(t, "-h")
	if code != 0 || stdout != "" {
		t.Fatalf("-h: exit %d, stdout %q; want 0 and nothing", code, stdout)
	}
	def := settings.Default()
	for _, name := range settings.Names() {
		// A boolean flag shows no value name.
		m := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(name) + `(?: \w+)?\n((?:    \t.*\n)+)`).FindStringSubmatch(help)
		if m == nil {
			t.Errorf("-h does not list -%s:\n%s", name, help)
			continue
		}
		want, _ := def.Get(name)
		if want == "" || want == "false" {
			// Package flag shows no default for an empty string or a
			// false boolean.
			continue
		}
		if !strings.Contains(m[1], "(default "+want+")") {
			t.Errorf("-h shows -%s without its default %q:\n%s", name, want, m[0])
		}
	}
}

// TestBadSettings: a wrong flag or setting exits 2 with one line that
// names it, and starts nothing.
func TestBadSettings(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.conf")
	os.WriteFile(unknownKey, []byte("# fine\nlisten = 127.0.0.1:7881\nspeed = 11\n"), 0o644)
	badValue := filepath.Join(dir, "bad.conf")
	os.WriteFile(badValue, []byte("store-size = lots\n"), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string // in the one line
	}{
		{"NotANumber", []string{"-peer-port", "x"}, "-peer-port"},
		{"PortRange", []string{"-peer-port", "70000"}, "peer-port"},
		{"StoreSize", []string{"-store-size", "0"}, "store-size:"},
		{"Listen", []string{"-listen", "nohost"}, "listen"},
		{"AllowScheme", []string{"-allow", "ftp://mirror.example.org/"}, "allow"},
		{"AllowQuery", []string{"-allow", "http://mirror.example.org/?x=1"}, "allow"},
		{"Tracker", []string{"-tracker", "mirror.example.org"}, "tracker"},
		{"LogLevel", []string{"-log-level", "loud"}, "log-level"},
		{"Packages", []string{"-packages", "Packages/*.rpm"}, "packages"},
		{"SeedOrder", []string{"-seed-min", "2h", "-seed-max", "1h"}, "seed-min"},
		{"Duration", []string{"-stall", "5"}, "-stall"},
		{"ServiceName", []string{"-service-name", "a/b"}, "service-name"},
		{"CPUs", []string{"-cpus", "-1"}, "cpus: -1 is negative"},
		{"UnknownFlag", []string{"-speed", "11"}, "-speed"},
		{"Argument", []string{"-peer-port", "0", "extra"}, `"extra"`},
		{"NoConfig", []string{"-config", filepath.Join(dir, "missing.conf")}, "missing.conf"},
		{"ConfigKey", []string{"-config", unknownKey}, `unknown.conf:3: unknown setting "speed"`},
		{"ConfigValue", []string{"-config", badValue}, "bad.conf:1: store-size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runAgent(t, c.args...)
			if code != 2 || stdout != "" {
				t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", c.args, code, stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") ||
				!strings.HasPrefix(stderr, "pkgtorrent-agent: ") || !strings.Contains(stderr, c.want) {
				t.Errorf("%q: stderr %q, want one line that names %s", c.args, stderr, c.want)
			}
		})
	}
}

// runningAgent is the binary started with the shipped settings file, in
// its own process group with its log in a file (see e2e.Start).
type runningAgent struct {
	*e2e.Proc
	base string // http://127.0.0.1:port
}

// startShipped runs the binary as the unit does, with the shipped
// settings, and flags after them for what a test cannot share with the
// host: its ports, its store and its repo files.
func startShipped(t *testing.T, extra ...string) *runningAgent {
	t.Helper()
	return startShippedEnv(t, nil, extra...)
}

// startShippedEnv is startShipped with more environment variables
// (name=value).
func startShippedEnv(t *testing.T, env []string, extra ...string) *runningAgent {
	t.Helper()
	args := append([]string{"-config", confFile, "-listen", "127.0.0.1:0", "-peer-port", "0", "-peer-host", "127.0.0.1",
		"-store", filepath.Join(t.TempDir(), "store"), "-repos-dir", t.TempDir()}, extra...)
	dir := t.TempDir()
	cmd := exec.Command(agentBinary(t), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	a := &runningAgent{Proc: e2e.Start(t, "pkgtorrent-agent", cmd, filepath.Join(dir, "agent.log"))}
	listening := regexp.MustCompile(`msg=listening http=(\S+)`)
	e2e.Wait(t, "the agent's msg=listening", 30*time.Second, func() error {
		b, _ := os.ReadFile(a.Log)
		m := listening.FindSubmatch(b)
		if m == nil {
			return errors.New("not logged yet")
		}
		a.base = "http://" + string(m[1])
		return nil
	}, a.Proc)
	return a
}

func httpDo(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, string(b)
}

// TestShippedSettingsRun starts the binary with deploy/pkgtorrent-agent.conf
// and checks the answers that pkgtorrent-agent(8) documents, /status,
// /metrics against the names it documents, and that SIGTERM stops it
// with status 0.
func TestShippedSettingsRun(t *testing.T) {
	// The mirror of files that are not packages: a plain web server.
	// One path blocks until released, to hold the agent's one request slot.
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/yum/el9/repodata/repomd.xml", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "repomd.xml", time.Unix(1700000000, 0), strings.NewReader("<repomd>0123456789</repomd>\n"))
	})
	mux.HandleFunc("/yum/el9/repodata/slow.xml", func(w http.ResponseWriter, r *http.Request) {
		held <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "slow\n")
	})
	origin := httptest.NewServer(mux)
	defer origin.Close()
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	host := strings.TrimPrefix(origin.URL, "http://")
	// A port nobody listens on: the mirror unreachable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadHost := l.Addr().String()
	l.Close()

	a := startShipped(t, "-allow", origin.URL+"/yum/", "-allow", "http://"+deadHost+"/", "-max-requests", "1")
	repomd := a.base + "/m/http/" + host + "/yum/el9/repodata/repomd.xml"

	for _, c := range []struct {
		name, method, url string
		header            []string
		status            int
		body              string // the whole body, or a prefix ending in "..."
	}{
		{"PassThrough", "GET", repomd, nil, 200, "<repomd>0123456789</repomd>\n"},
		{"Range", "GET", repomd, []string{"Range", "bytes=8-17"}, 206, "0123456789"},
		{"Head", "HEAD", repomd, nil, 200, ""},
		{"NotModified", "GET", repomd, []string{"If-Modified-Since", time.Unix(1700000001, 0).UTC().Format(http.TimeFormat)}, 304, ""},
		{"NotFound", "GET", a.base + "/m/http/" + host + "/yum/el9/repodata/none.xml", nil, 404, "404 page not found\n"},
		{"Scheme", "GET", a.base + "/m/ftp/" + host + "/yum/x.rpm", nil, 400, "bad request: ..."},
		{"DotSegment", "GET", a.base + "/m/http/" + host + "/yum/%2e%2e/x.rpm", nil, 400, "bad request: ..."},
		{"NotAllowed", "GET", a.base + "/m/http/mirror.example.org/yum/x.rpm", nil, 403, "forbidden: http://mirror.example.org is not an allowed mirror\n"},
		{"OutsideAllowedPath", "GET", a.base + "/m/http/" + host + "/other/x.rpm", nil, 403, "forbidden: ..."},
		{"Method", "POST", repomd, nil, 405, "only GET and HEAD\n"},
		{"Unreachable", "GET", a.base + "/m/http/" + deadHost + "/yum/repodata/repomd.xml", nil, 502, "mirror unreachable\n"},
		{"OtherPath", "GET", a.base + "/nope", nil, 404, "not found: ..."},
		{"StatusMethod", "POST", a.base + "/status", nil, 404, "not found: ..."},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := httpDo(t, c.method, c.url, c.header...)
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: %d, want %d; body %q", c.method, c.url, resp.StatusCode, c.status, body)
			}
			if prefix, ok := strings.CutSuffix(c.body, "..."); ok {
				if !strings.HasPrefix(body, prefix) || strings.Count(body, "\n") != 1 {
					t.Errorf("%s %s: body %q, want one line starting %q", c.method, c.url, body, prefix)
				}
			} else if body != c.body {
				t.Errorf("%s %s: body %q, want %q", c.method, c.url, body, c.body)
			}
			if c.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("405 with Allow %q, want GET, HEAD", resp.Header.Get("Allow"))
			}
		})
	}

	t.Run("Busy", func(t *testing.T) {
		done := make(chan int, 1)
		go func() {
			resp, err := http.Get(a.base + "/m/http/" + host + "/yum/el9/repodata/slow.xml")
			if err != nil {
				done <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		select {
		case <-held:
		case <-time.After(20 * time.Second):
			t.Fatal("the first request did not reach the mirror")
		}
		resp, body := httpDo(t, "GET", repomd)
		if resp.StatusCode != 503 || body != "busy: too many requests at once\n" {
			t.Errorf("a second request with max-requests 1: %d %q, want 503", resp.StatusCode, body)
		}
		releaseOnce.Do(func() { close(release) })
		if code := <-done; code != 200 {
			t.Errorf("the held request: %d, want 200", code)
		}
	})

	t.Run("Status", func(t *testing.T) {
		resp, body := httpDo(t, "GET", a.base+"/status")
		var st struct {
			PeerPort int            `json:"peer_port"`
			Totals   map[string]any `json:"totals"`
			Torrents []any          `json:"torrents"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &st) != nil || st.PeerPort == 0 || st.Totals == nil || st.Torrents == nil {
			t.Errorf("/status: %d %s", resp.StatusCode, body)
		}
		if got := st.Totals["passthrough"]; got == nil || got.(float64) < 28 {
			t.Errorf("/status totals.passthrough = %v, want at least the 28 bytes of repomd.xml", got)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		resp, body := httpDo(t, "GET", a.base+"/metrics")
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d", resp.StatusCode)
		}
		var served []string
		for _, m := range regexp.MustCompile(`(?m)^# TYPE (pkgtorrent_agent_\w+) `).FindAllStringSubmatch(body, -1) {
			served = append(served, m[1])
		}
		page := section(renderMan(t, manAgent), "METRICS")
		var documented []string
		for _, m := range regexp.MustCompile(`(?m)^       (pkgtorrent_agent_\w+)`).FindAllStringSubmatch(page, -1) {
			documented = append(documented, m[1])
		}
		slices.Sort(served)
		slices.Sort(documented)
		if len(served) == 0 || !slices.Equal(served, documented) {
			t.Errorf("/metrics serves %q; pkgtorrent-agent(8) METRICS documents %q", served, documented)
		}
		// The Go runtime's and the process' figures, which the page
		// names besides.
		for _, family := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if !strings.Contains(body, "\n# TYPE "+family+" ") {
				t.Errorf("/metrics lacks %s", family)
			}
		}
	})

	// SIGTERM: exit status 0, soon.
	if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- a.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("still running 15 s after SIGTERM")
	}
}

// TestFlagsAndFileAgree: every setting is a flag and a file key of the
// same name that read a value the same way; a repeatable one is
// repeated, and its flags replace the file's list.
func TestFlagsAndFileAgree(t *testing.T) {
	// Values other than the defaults; a test of a new setting starts here.
	values := map[string][]string{
		"listen":                 {"127.0.0.2:8000"},
		"peer-port":              {"0"},
		"peer-host":              {"127.0.0.1"},
		"store":                  {"/srv/agent-store"},
		"allow":                  {"http://mirror.example.org/yum/", "https://mirror2.example.org:8443/"},
		"repos-dir":              {""},
		"service-name":           {"ts"},
		"packages":               {"*.rpm", "*.drpm"},
		"store-size":             {"3GiB"},
		"seed-min":               {"1m"},
		"seed-max":               {"2h30m"},
		"stored-seeds":           {"40"},
		"upload-rate":            {"512KiB"},
		"upload-share":           {"2.5"},
		"upload-fan-out":         {"3"},
		"peers-per-torrent":      {"7"},
		"peer-conns":             {"300"},
		"peer-conns-per-address": {"9"},
		"cpus":                   {"3"},
		"max-requests":           {"3"},
		"origin-after":           {"0s"},
		"stall":                  {"1500ms"},
		"tracker":                {"udp://tracker.example.org:6969/announce", "http://tracker2.example.org/announce"},
		"max-file-size":          {"2GiB"},
		"max-pieces":             {"1000"},
		"peer-network":           {"10.0.0.0/8", "fd00::/8"},
		"encryption":             {"require"},
		"ca-file":                {"/etc/pki/mirror-ca.pem"},
		"proxy":                  {"http://user:secret@proxy.example.org:3128"},
		"dnf-conf":               {"/etc/yum.conf"},
		"log-level":              {"debug"},
		"pprof":                  {"true"},
	}
	def := settings.Default()
	var file strings.Builder
	var flags []string
	for _, name := range settingNames() {
		vals, ok := values[name]
		if !ok {
			t.Errorf("setting %s has no test value here", name)
			continue
		}
		for _, v := range vals {
			file.WriteString(name + " = " + v + "\n")
			flags = append(flags, "-"+name, v)
		}
	}
	conf := filepath.Join(t.TempDir(), "agent.conf")
	if err := os.WriteFile(conf, []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, _, err := settings.Load("", []string{"-config", conf}, io.Discard)
	if err != nil {
		t.Fatalf("the file: %v\n%s", err, file.String())
	}
	fromFlags, _, err := settings.Load("", flags, io.Discard)
	if err != nil {
		t.Fatalf("the flags: %v", err)
	}
	for _, name := range settingNames() {
		f, _ := fromFile.Get(name)
		g, _ := fromFlags.Get(name)
		d, _ := def.Get(name)
		if f != g || f == d {
			t.Errorf("%s: %q from the file, %q from the flags (default %q): want the same, not the default", name, f, g, d)
		}
	}
	if len(fromFlags.Allow) != 2 || len(fromFlags.Trackers) != 2 || len(fromFlags.Packages) != 2 {
		t.Errorf("repeated flags: allow %q, tracker %q, packages %q; want two each", fromFlags.Allow, fromFlags.Trackers, fromFlags.Packages)
	}
	// Flags after -config win; a repeatable flag replaces the file's list.
	both, _, err := settings.Load("", []string{"-config", conf, "-allow", "http://other.example.org/", "-stall", "9s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(both.Allow, []string{"http://other.example.org/"}) || both.Stall != 9*time.Second || !slices.Equal(both.Trackers, fromFile.Trackers) {
		t.Errorf("-config then flags: allow %q, stall %v, tracker %q", both.Allow, both.Stall, both.Trackers)
	}
}

// TestPeerPortZero: two agents on one machine with -peer-port 0 get a
// BitTorrent port each.
func TestPeerPortZero(t *testing.T) {
	var ports []float64
	for range 2 {
		a := startShipped(t)
		_, body := httpDo(t, "GET", a.base+"/status")
		var st map[string]any
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/status: %v: %s", err, body)
		}
		p, _ := st["peer_port"].(float64)
		ports = append(ports, p)
	}
	if ports[0] == 0 || ports[1] == 0 || ports[0] == ports[1] {
		t.Errorf("peer ports %v, want two different free ports", ports)
	}
}
