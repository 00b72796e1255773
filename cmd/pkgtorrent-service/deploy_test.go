package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
)

const (
	manService = "../../deploy/man/pkgtorrent-service.8"
	manConf    = "../../deploy/man/pkgtorrent-service.conf.5"
)

// flagNames returns the flags that a -h text lists.
func flagNames(t *testing.T, args ...string) []string {
	t.Helper()
	_, help, code := runBinary(t, args...)
	if code != 0 {
		t.Fatalf("%q: exit %d", args, code)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("%q lists no flags:\n%s", args, help)
	}
	return names
}

// manPages returns every manual page under deploy/man: the service's,
// and those of programs added beside it.
func manPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("../../deploy/man/*.[1-8]")
	if err != nil || len(pages) < 2 {
		t.Fatalf("manual pages under deploy/man: %q, %v", pages, err)
	}
	return pages
}

// TestManPages checks the manual pages, the reference of the service,
// against the code: every page renders without a warning within 80
// columns; pkgtorrent-service.conf(5) documents every setting of package
// config with the default the code has; pkgtorrent-service(8) documents
// every endpoint and method the handler answers, and every flag of the
// service and its subcommands.
func TestManPages(t *testing.T) {
	text := map[string]string{}
	for _, page := range manPages(t) {
		text[filepath.Base(page)] = e2e.RenderMan(t, page)
	}
	service, conf := text[filepath.Base(manService)], text[filepath.Base(manConf)]
	if service == "" || conf == "" {
		t.Fatalf("%s or %s is missing", manService, manConf)
	}

	// Every flag of the service and of each subcommand, as -h lists it,
	// is in pkgtorrent-service(8).
	for _, args := range [][]string{{"-h"}, {"warm", "-h"}, {"gc", "-h"}, {"inspect", "-h"}} {
		for _, name := range flagNames(t, args...) {
			if !strings.Contains(service, "-"+name+" ") && !strings.Contains(service, "-"+name+"\n") && !strings.Contains(service, "-"+name+",") {
				t.Errorf("pkgtorrent-service(8) does not document %s's flag -%s", strings.Join(args[:len(args)-1], " "), name)
			}
		}
	}
	checkManSettings(t, conf)
	checkManEndpoints(t, service)
	for _, want := range []string{
		// Subcommands.
		"   warm [-j n] [settings] pattern...", "   gc [-max-age duration] [-dry-run] [-v] [settings]", "   inspect [-verify root] file.torrent|url", "   version\n",
		// Signals, environment and files.
		"SIGTERM, SIGINT", "DOCUMENT_ROOT", "GATEWAY_INTERFACE", "LISTEN_FDS", "HTTPS, SERVER_PORT, SERVER_NAME",
		"/etc/pkgtorrent-service.conf", "/var/lib/torrent_service/trackers", "/var/cache/torrent_service",
		"CACHES", "pieces/path/piece-length", "info/key", "pkgtorrent-service-gc.timer", "/etc/cron.d/pkgtorrent-service-gc",
		"EXIT STATUS",
	} {
		if !strings.Contains(service, want) {
			t.Errorf("pkgtorrent-service(8) lacks %q", want)
		}
	}
}

// checkManSettings checks that the rendered pkgtorrent-service.conf(5)
// has a paragraph "name = value" for every setting the code knows, and
// that its "Default:" is the code's: the documented value, read by the
// setting's own parser, equals config.DefaultValue, and "none" stands for
// a setting without default.
func checkManSettings(t *testing.T, conf string) {
	t.Helper()
	// A paragraph is its tag line (7 spaces) and the indented lines under
	// it, up to the next tag line or section heading.
	paragraphs := map[string]string{}
	tag := regexp.MustCompile(`^       ([a-z-]+) = \S+$`)
	name := ""
	for _, line := range strings.Split(conf, "\n") {
		switch m := tag.FindStringSubmatch(line); {
		case m != nil:
			name = m[1]
			paragraphs[name] = ""
		case name != "" && strings.HasPrefix(line, "        "):
			paragraphs[name] += " " + strings.TrimSpace(line)
		case line != "":
			name = ""
		}
	}
	def := regexp.MustCompile(`Default: (\S+)`)
	for _, name := range config.Names() {
		if name == "config" {
			continue // a flag only: the file to read
		}
		want, ok := config.DefaultValue(name)
		if !ok {
			t.Fatalf("config.DefaultValue(%q): unknown setting", name)
		}
		body, ok := paragraphs[name]
		if !ok {
			t.Errorf("pkgtorrent-service.conf(5) has no paragraph %q for the setting %s (default %q)", name+" = ...", name, want)
			continue
		}
		m := def.FindStringSubmatch(body)
		if m == nil {
			t.Errorf("pkgtorrent-service.conf(5): %s has no \"Default:\" (the code's is %q)", name, want)
			continue
		}
		doc := strings.TrimRight(m[1], ".,;")
		if doc == "none" {
			if want != "" {
				t.Errorf("pkgtorrent-service.conf(5): %s: Default: none, but the code's default is %q", name, want)
			}
			continue
		}
		got, err := config.Value(name, doc)
		if err != nil {
			t.Errorf("pkgtorrent-service.conf(5): %s: Default: %s does not parse: %v", name, doc, err)
		} else if got != want {
			t.Errorf("pkgtorrent-service.conf(5): %s: Default: %s (%q), but the code's default is %q", name, doc, got, want)
		}
	}
}

// checkManEndpoints checks that the rendered pkgtorrent-service(8) names
// every endpoint the handler answers, with each method it allows, and
// every value of the format query. The lists come from the handler's own
// answers: the 404 of an unknown mode names the modes, the 405's Allow
// header the methods of each, the 400 of an unknown format the formats.
func checkManEndpoints(t *testing.T, page string) {
	t.Helper()
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers = t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "trackers")
	h := service.New(cfg, service.Options{Log: slog.New(slog.DiscardHandler)})
	serve := func(method, target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
		h.Wait()
		return w
	}
	mount := "/yum/" + cfg.ServiceName + "/"
	list := func(w *httptest.ResponseRecorder, what string) []string {
		m := regexp.MustCompile(`\(want ([^)]+)\)`).FindStringSubmatch(w.Body.String())
		if m == nil {
			t.Fatalf("%s: %d %q names no list", what, w.Code, w.Body.String())
		}
		return strings.FieldsFunc(strings.ReplaceAll(m[1], " or ", ", "), func(r rune) bool { return r == ',' || r == ' ' })
	}
	w := serve("GET", mount+"no-such-mode/x")
	if w.Code != http.StatusNotFound {
		t.Fatalf("GET of an unknown mode: %d %q, want 404", w.Code, w.Body.String())
	}
	modes := list(w, "GET of an unknown mode")
	if len(modes) < 4 {
		t.Fatalf("the handler names the modes %q", modes)
	}
	for _, mode := range modes {
		if w := serve("GET", mount+mode+"/x"); strings.Contains(w.Body.String(), "unknown mode") {
			t.Errorf("mode %s: %d %q", mode, w.Code, w.Body.String())
		}
		w := serve("DELETE", mount+mode+"/x")
		allow := w.Header().Get("Allow")
		if w.Code != http.StatusMethodNotAllowed || allow == "" {
			t.Errorf("DELETE %s/: %d, Allow %q; want 405 and Allow", mode, w.Code, allow)
			continue
		}
		for _, method := range strings.Split(allow, ", ") {
			if method == "HEAD" {
				continue // "HEAD answers like GET", checked below
			}
			if want := method + " mount/" + mode + "/"; !strings.Contains(page, want) {
				t.Errorf("pkgtorrent-service(8) does not document the endpoint %q (the handler answers %s %s/...)", want, method, mode)
			}
		}
	}
	for _, want := range []string{"HEAD answers like GET", "other methods get 405"} {
		if !strings.Contains(page, want) {
			t.Errorf("pkgtorrent-service(8) lacks %q", want)
		}
	}
	w = serve("GET", mount+"digest/"+strings.Repeat("0", 40)+"?format=no-such-format")
	if w.Code != http.StatusBadRequest {
		t.Fatalf("GET digest/ with an unknown format: %d %q, want 400", w.Code, w.Body.String())
	}
	for _, format := range list(w, "GET digest/ with an unknown format") {
		if !strings.Contains(page, "?format="+format) {
			t.Errorf("pkgtorrent-service(8) does not document ?format=%s", format)
		}
	}
}

// runDeployed runs a command line from a deploy/ file with this build of
// the binary and a configuration for a sample mirror in place of the
// installed ones.
func runDeployed(t *testing.T, line string) string {
	t.Helper()
	root, cache, trackers := mirror(t)
	if _, errOut, code := runBinary(t, "warm", "-root", root, "-cache", cache, "yum/**"); code != 0 {
		t.Fatalf("warm: %s", errOut)
	}
	conf := filepath.Join(t.TempDir(), "pkgtorrent-service.conf")
	os.WriteFile(conf, []byte("root = "+root+"\ncache = "+cache+"\ntrackers = "+trackers+"\n"), 0o644)
	args := strings.Fields(line)
	if args[0] != "/usr/bin/pkgtorrent-service" {
		t.Fatalf("%q does not run /usr/bin/pkgtorrent-service", line)
	}
	for i, a := range args {
		if a == "/etc/pkgtorrent-service.conf" {
			args[i] = conf
		}
	}
	out, errOut, code := runBinary(t, args[1:]...)
	if code != 0 {
		t.Fatalf("%q: exit %d: %s", line, code, errOut)
	}
	return out
}

func TestGCUnits(t *testing.T) {
	service, timer := "../../deploy/pkgtorrent-service-gc.service", "../../deploy/pkgtorrent-service-gc.timer"
	if v := e2e.UnitValue(t, timer, "OnCalendar"); v != "daily" {
		t.Errorf("timer OnCalendar=%s, want daily", v)
	}
	if v := e2e.UnitValue(t, service, "ReadWritePaths"); v != config.Default().Cache {
		t.Errorf("ReadWritePaths=%s, want the default cache folder %s", v, config.Default().Cache)
	}
	exec := e2e.UnitValue(t, service, "ExecStart")
	if !strings.Contains(exec, " gc ") {
		t.Errorf("ExecStart=%s does not run gc", exec)
	}
	if out := runDeployed(t, exec); !strings.HasPrefix(out, "gc: nothing to remove; kept 9 entries") {
		t.Errorf("ExecStart's gc printed %q", out)
	}
	verifyUnits(t, service, timer)
}

// verifyUnits runs systemd-analyze verify on copies of the units that run
// this build of the binary (verify checks that ExecStart is executable).
func verifyUnits(t *testing.T, units ...string) {
	t.Helper()
	analyze := e2e.Need(t, "systemd-analyze")
	dir := t.TempDir()
	var copies []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/bin/pkgtorrent-service"), []byte(serviceBinary(t)))
		c := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(c, b, 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, copies...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestGCCron(t *testing.T) {
	b, err := os.ReadFile("../../deploy/pkgtorrent-service-gc.cron")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") || regexp.MustCompile(`^[A-Z]+=`).MatchString(line) {
			continue
		}
		jobs = append(jobs, line)
	}
	if len(jobs) != 1 {
		t.Fatalf("jobs %q, want one", jobs)
	}
	// minute hour day month weekday user command: once a day, as root.
	f := strings.Fields(jobs[0])
	if len(f) < 7 || f[2] != "*" || f[3] != "*" || f[4] != "*" || f[5] != "root" || !regexp.MustCompile(`^[0-9]+$`).MatchString(f[0]+f[1]) {
		t.Fatalf("%q is not a daily job run as root", jobs[0])
	}
	command, _, _ := strings.Cut(strings.Join(f[6:], " "), " 2>&1")
	if out := runDeployed(t, command); !strings.HasPrefix(out, "gc: nothing to remove; kept 9 entries") {
		t.Errorf("the cron job's gc printed %q", out)
	}
}
