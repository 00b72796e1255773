package main

// Tests of what an operator installs (deploy/): the manual pages say what
// the code does, the settings file and the unit agree with the settings'
// defaults, systemd accepts the unit, and the RPM spec builds packages
// that hold them.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

const (
	manAgent = deployDir + "man/pkgtorrent-agent.8"
	manConf  = deployDir + "man/pkgtorrent-agent.conf.5"
	confFile = deployDir + "pkgtorrent-agent.conf"
	unitFile = deployDir + "pkgtorrent-agent.service"
	specFile = deployDir + "pkgtorrent-service.spec"
	// firewalldFile is installed as
	// /usr/lib/firewalld/services/pkgtorrent-agent.xml.
	firewalldFile = deployDir + "pkgtorrent-agent.firewalld.xml"
	// actionsFile, the dnf 5 plugin, is installed as actionsInstalled.
	actionsFile      = deployDir + "dnf/pkgtorrent.actions"
	actionsInstalled = "/etc/dnf/libdnf5-plugins/actions.d/pkgtorrent.actions"
)

// settingNames are the settings, without config (a flag only).
func settingNames() []string {
	return slices.DeleteFunc(settings.Names(), func(n string) bool { return n == "config" })
}

// loadValue is the text of setting name (as (*Config).Get gives it) after
// the agent reads value for it; "none" stands for the empty value.
func loadValue(name, value string) (string, error) {
	if value == "none" {
		return "", nil
	}
	// -name=value, which a boolean flag needs.
	cfg, _, err := settings.Load("", []string{"-" + name + "=" + value}, io.Discard)
	if err != nil {
		return "", err
	}
	v, _ := cfg.Get(name)
	return v, nil
}

// settingsPageProblems returns what the rendered pkgtorrent-agent.conf(5)
// gets wrong about the settings: a setting without its paragraph
// ("name = value" as the paragraph's tag), a paragraph of no setting, a
// paragraph without "Default:", or a default that the agent reads as
// another value than its own default.
func settingsPageProblems(text string) []string {
	var problems []string
	tags := regexp.MustCompile(`(?m)^       ([a-z][a-z-]*) = \S+\n`)
	// A paragraph's body is indented further than its tag.
	bodyEnd := regexp.MustCompile(`(?m)^ {0,7}\S`)
	paras := map[string]string{}
	locs := tags.FindAllStringSubmatchIndex(text, -1)
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := text[l[1]:end]
		if m := bodyEnd.FindStringIndex(body); m != nil {
			body = body[:m[0]]
		}
		paras[text[l[2]:l[3]]] = strings.Join(strings.Fields(body), " ")
	}
	def := settings.Default()
	for _, name := range settingNames() {
		body, ok := paras[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("no paragraph %q", name+" = ..."))
			continue
		}
		delete(paras, name)
		m := regexp.MustCompile(`Default: (\S+)`).FindStringSubmatch(body)
		if m == nil {
			problems = append(problems, fmt.Sprintf("paragraph %s says no \"Default: ...\"", name))
			continue
		}
		documented := strings.TrimRight(m[1], ".,;")
		want, _ := def.Get(name)
		got, err := loadValue(name, documented)
		if err != nil || got != want {
			problems = append(problems, fmt.Sprintf("%s: the documented default %q is %q to the agent (%v), want its default %q", name, documented, got, err, want))
		}
	}
	for name := range paras {
		problems = append(problems, fmt.Sprintf("paragraph %q documents no setting of the agent", name))
	}
	slices.Sort(problems)
	return problems
}

func TestManPages(t *testing.T) {
	page := renderMan(t, manAgent)
	conf := renderMan(t, manConf)

	// Every setting has its paragraph in pkgtorrent-agent.conf(5), with
	// the default the code has.
	for _, p := range settingsPageProblems(section(conf, "SETTINGS")) {
		t.Errorf("pkgtorrent-agent.conf(5): %s", p)
	}
	// pkgtorrent-agent(8) names every setting where it explains what the
	// setting does, and refers to pkgtorrent-agent.conf(5) for them.
	for _, name := range settingNames() {
		if !regexp.MustCompile(`(^|[^a-z-])` + regexp.QuoteMeta(name) + `([^a-z-]|$)`).MatchString(page) {
			t.Errorf("pkgtorrent-agent(8) does not name the setting %s", name)
		}
	}
	if !strings.Contains(page, "pkgtorrent-agent.conf(5)") {
		t.Errorf("pkgtorrent-agent(8) does not refer to pkgtorrent-agent.conf(5)")
	}

	// Endpoints and their answers.
	endpoints := section(page, "ENDPOINTS")
	for _, want := range []string{
		"GET /m/scheme/host[:port]/path", "HEAD /m/scheme/host[:port]/path", "POST /m/...",
		"POST /prefetch", "GET /status", "GET /metrics", "Any other path or method",
	} {
		if !regexp.MustCompile(`(?m)^       ` + regexp.QuoteMeta(want) + `\n`).MatchString(endpoints) {
			t.Errorf("pkgtorrent-agent(8) ENDPOINTS has no paragraph %q", want)
		}
	}
	for _, code := range []int{200, 206, 400, 403, 404, 405, 416, 502, 503} {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^ +%d\b`, code)).MatchString(endpoints) {
			t.Errorf("pkgtorrent-agent(8) ENDPOINTS does not list the answer %d", code)
		}
	}
	// Every field of /status's JSON.
	for _, typ := range []reflect.Type{reflect.TypeFor[agent.Status](), reflect.TypeFor[agent.Totals](), reflect.TypeFor[agent.TorrentStatus]()} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !regexp.MustCompile(`\b` + name + `\b`).MatchString(endpoints) {
				t.Errorf("pkgtorrent-agent(8) does not explain the /status field %s (%s.%s)", name, typ.Name(), f.Name)
			}
		}
	}
	for _, want := range []string{
		// The local-first baseurl, as two lines of a .repo file.
		"baseurl=http://127.0.0.1:7881/m/http/mirror.example.org/",
		"                   http://mirror.example.org/",
		// How downloads work.
		"/single/", "origin-after", "stall", "seed-min", "seed-max", "store-size", "least recently used",
		// Signals, exit status, files.
		"SIGTERM, SIGINT", "EXIT STATUS", "/etc/pkgtorrent-agent.conf", "/etc/yum.repos.d",
		"TORRENT_STORAGE_DEFAULT_FILE_IO", "http_proxy",
		"/var/cache/pkgtorrent-agent", "pkgtorrent-agent.service", "pkgtorrent-service(8)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("pkgtorrent-agent(8) lacks %q", want)
		}
	}
	// The settings examples load.
	example := filepath.Join(t.TempDir(), "example.conf")
	block := section(conf, "EXAMPLE")
	block, _, _ = strings.Cut(block, "\n\n")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	os.WriteFile(example, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	if cfg, _, err := settings.Load("", []string{"-config", example}, io.Discard); err != nil || len(cfg.Allow) == 0 {
		t.Errorf("pkgtorrent-agent.conf(5)'s EXAMPLE: %v (allow %q)\n%s", err, cfg.Allow, lines)
	}
}

// TestSettingsPageCheck shows that TestManPages catches a setting missing
// from pkgtorrent-agent.conf(5), and a wrong default.
func TestSettingsPageCheck(t *testing.T) {
	text := section(renderMan(t, manConf), "SETTINGS")
	if p := settingsPageProblems(text); len(p) != 0 {
		t.Fatalf("the shipped page: %q", p)
	}
	// Without the paragraph of stall.
	start := strings.Index(text, "\n       stall = duration\n")
	end := strings.Index(text, "\n       tracker = url\n")
	if start < 0 || end < start {
		t.Fatalf("no paragraph stall before tracker in:\n%s", text)
	}
	want := []string{`no paragraph "stall = ..."`}
	if got := settingsPageProblems(text[:start] + text[end:]); !slices.Equal(got, want) {
		t.Errorf("without stall: %q, want %q", got, want)
	}
	// With another default for max-requests, and a documented default
	// the agent refuses.
	i := strings.Index(text, "max-requests = n")
	if i < 0 {
		t.Fatalf("no paragraph max-requests in:\n%s", text)
	}
	wrong := text[:i] + strings.Replace(text[i:], "64.", "65.", 1)
	wrong = regexp.MustCompile(`Default:(\s+)15m\.`).ReplaceAllString(wrong, "Default:${1}15 minutes.")
	got := settingsPageProblems(wrong)
	if len(got) != 2 || !strings.HasPrefix(got[0], `max-requests: the documented default "65" is "65"`) ||
		!strings.HasPrefix(got[1], `seed-min: the documented default "15"`) {
		t.Errorf("with wrong defaults: %q", got)
	}
	// A paragraph of a setting the agent does not have.
	extra := strings.Replace(text, "\n       tracker = url\n", "\n       trackers = url\n", 1)
	if got := settingsPageProblems(extra); !slices.Contains(got, `paragraph "trackers" documents no setting of the agent`) {
		t.Errorf("with a paragraph trackers: %q", got)
	}
}

// confFileProblems returns what a settings file gets wrong: a setting
// without a "key = value" line (commented or not), a key that is no
// setting, a commented line of a setting with a default that is not that
// default, or an example line the agent refuses.
func confFileProblems(t *testing.T, text string) []string {
	t.Helper()
	var problems []string
	def := settings.Default()
	first := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(#?)([a-z][a-z-]*) = (.*)$`).FindAllStringSubmatch(text, -1) {
		commented, name, value := m[1] == "#", m[2], m[3]
		if _, ok := def.Get(name); !ok {
			problems = append(problems, fmt.Sprintf("%s is not a setting", name))
			continue
		}
		if _, ok := first[name]; ok {
			continue
		}
		first[name] = value
		want, _ := def.Get(name)
		got, err := loadValue(name, value)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s = %s: %v", name, value, err))
		case commented && want != "" && got != want:
			problems = append(problems, fmt.Sprintf("#%s = %s is %q to the agent, not its default %q", name, value, got, want))
		}
	}
	for _, name := range settingNames() {
		if _, ok := first[name]; !ok {
			problems = append(problems, fmt.Sprintf("no line %q", name+" = ..."))
		}
	}
	slices.Sort(problems)
	return problems
}

func TestConfFile(t *testing.T) {
	b, err := os.ReadFile(confFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range confFileProblems(t, string(b)) {
		t.Errorf("%s: %s", confFile, p)
	}
	// It loads as it is, and leaves the store where the unit makes it
	// writable and the agent on loopback.
	cfg, _, err := settings.Load("", []string{"-config", confFile}, io.Discard)
	if err != nil {
		t.Fatalf("-config %s: %v", confFile, err)
	}
	if want := "/var/cache/" + e2e.UnitValue(t, unitFile, "CacheDirectory"); cfg.Store != want {
		t.Errorf("store = %s, but the unit's CacheDirectory is %s", cfg.Store, want)
	}
	if !strings.HasPrefix(cfg.Listen, "127.0.0.1:") {
		t.Errorf("listen = %s, not on loopback", cfg.Listen)
	}

	// The check catches a missing setting and a wrong default.
	without := regexp.MustCompile(`(?m)^#stall = .*\n`).ReplaceAllString(string(b), "")
	if got, want := confFileProblems(t, without), []string{`no line "stall = ..."`}; !slices.Equal(got, want) {
		t.Errorf("without stall: %q, want %q", got, want)
	}
	wrong := strings.Replace(string(b), "#max-requests = 64\n", "#max-requests = 65\n", 1)
	if got, want := confFileProblems(t, wrong), []string{`#max-requests = 65 is "65" to the agent, not its default "64"`}; !slices.Equal(got, want) {
		t.Errorf("with a wrong default: %q, want %q", got, want)
	}
}

// TestUnit checks the systemd unit with systemd-analyze, on a copy that
// runs this build of the binary (verify checks that ExecStart is an
// executable), and that it agrees with the settings.
func TestUnit(t *testing.T) {
	analyze := need(t, "systemd-analyze")
	if got, want := e2e.UnitValue(t, unitFile, "ExecStart"), "/usr/bin/pkgtorrent-agent -config /etc/pkgtorrent-agent.conf"; got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	def := settings.Default()
	if got := "/var/cache/" + e2e.UnitValue(t, unitFile, "CacheDirectory"); got != def.Store {
		t.Errorf("CacheDirectory makes %s writable, but the default store is %s", got, def.Store)
	}
	if got := e2e.UnitValue(t, unitFile, "ReadOnlyPaths"); strings.TrimPrefix(got, "-") != def.ReposDir {
		t.Errorf("ReadOnlyPaths=%s, want the default repos-dir %s", got, def.ReposDir)
	}
	if got := e2e.UnitValue(t, unitFile, "RestrictAddressFamilies"); got != "AF_INET AF_INET6 AF_UNIX" {
		t.Errorf("RestrictAddressFamilies=%s", got)
	}
	// No restart loop on settings that cannot work.
	if _, _, code := runAgent(t, "-stall", "0s"); e2e.UnitValue(t, unitFile, "RestartPreventExitStatus") != strconv.Itoa(code) {
		t.Errorf("RestartPreventExitStatus=%s, but an invalid setting exits %d", e2e.UnitValue(t, unitFile, "RestartPreventExitStatus"), code)
	}

	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	// The port is systemd's while the agent is down: the socket unit holds
	// the default listen address, and the service needs it.
	socketFile := deployDir + "pkgtorrent-agent.socket"
	if got := e2e.UnitValue(t, socketFile, "ListenStream"); got != def.Listen {
		t.Errorf("pkgtorrent-agent.socket ListenStream=%s, want the default listen %s", got, def.Listen)
	}
	if got := e2e.UnitValue(t, unitFile, "Requires"); got != "pkgtorrent-agent.socket" {
		t.Errorf("Requires=%s, want pkgtorrent-agent.socket", got)
	}
	dir := t.TempDir()
	unit, socket := filepath.Join(dir, "pkgtorrent-agent.service"), filepath.Join(dir, "pkgtorrent-agent.socket")
	b = bytes.ReplaceAll(b, []byte("/usr/bin/pkgtorrent-agent"), []byte(agentBinary(t)))
	if err := os.WriteFile(unit, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(socketFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(socket, sb, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", socket, unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The hardening, as systemd rates it: 1.2 ("OK") when written; fail
	// above 2.0.
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20: %v\n%s", err, out)
	}
}

// TestFirewalldService: the firewalld service opens the default peer
// port, over TCP only (the agent uses neither uTP nor DHT).
func TestFirewalldService(t *testing.T) {
	b, err := os.ReadFile(firewalldFile)
	if err != nil {
		t.Fatal(err)
	}
	var svc struct {
		XMLName     xml.Name `xml:"service"`
		Short       string   `xml:"short"`
		Description string   `xml:"description"`
		Ports       []struct {
			Protocol string `xml:"protocol,attr"`
			Port     string `xml:"port,attr"`
		} `xml:"port"`
	}
	if err := xml.Unmarshal(b, &svc); err != nil {
		t.Fatalf("%s: %v", firewalldFile, err)
	}
	want := strconv.Itoa(settings.Default().PeerPort)
	if svc.Short != "pkgtorrent-agent" || svc.Description == "" || len(svc.Ports) != 1 ||
		svc.Ports[0].Protocol != "tcp" || svc.Ports[0].Port != want {
		t.Errorf("%s: %+v, want short pkgtorrent-agent, a description and the one port %s/tcp", firewalldFile, svc, want)
	}
}

// TestRPM builds the packages of the spec with rpmbuild, from a tarball of
// this tree, and checks what the pkgtorrent-agent package holds and runs.
// Debian's rpm has no systemd macros: the test defines them (the
// scriptlets then name their units).
func TestRPM(t *testing.T) {
	rpmspec := need(t, "rpmspec")
	rpmbuild := need(t, "rpmbuild")
	git := need(t, "git")
	out, err := exec.Command(rpmspec, "-P", specFile).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error:")) {
		t.Fatalf("rpmspec -P: %v\n%s", err, out)
	}
	version := regexp.MustCompile(`(?m)^Version:\s+(\S+)$`).FindSubmatch(out)
	if version == nil {
		t.Fatalf("rpmspec -P gives no Version")
	}
	nv := "pkgtorrent-service-" + string(version[1])

	// The tarball of the tree as it is now (committed or not).
	top := t.TempDir()
	if err := os.Mkdir(filepath.Join(top, "SOURCES"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := exec.Command(git, "-C", "../..", "ls-files", "-co", "--exclude-standard", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	tar := exec.Command("tar", "-C", "../..", "--null", "-T", "-", "-czf", filepath.Join(top, "SOURCES", nv+".tar.gz"),
		"--transform", "s,^,"+nv+"/,")
	tar.Stdin = bytes.NewReader(files)
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	defines := []string{
		"_topdir " + top,
		"_unitdir /usr/lib/systemd/system",
		"_sysusersdir /usr/lib/sysusers.d",
		"_tmpfilesdir /usr/lib/tmpfiles.d",
		"systemd_requires %{nil}",
		"systemd_post() echo systemd_post %*",
		"systemd_preun() echo systemd_preun %*",
		"systemd_postun() echo systemd_postun %*",
		"systemd_postun_with_restart() echo systemd_postun_with_restart %*",
		"tmpfiles_create() echo tmpfiles_create %*",
		"firewalld_reload echo firewalld_reload",
		"python3_sitelib /usr/lib/python3/site-packages",
	}
	// --nodeps: Debian has no golang package; --nocheck: %check runs the
	// tests, this one among them.
	args := []string{"-bb", "--nodeps", "--nocheck", "--noclean"}
	for _, d := range defines {
		args = append(args, "--define", d)
	}
	cmd := exec.Command(rpmbuild, append(args, specFile)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild -bb: %v\n%s", err, out)
	}
	rpms, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "pkgtorrent-agent-*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("rpmbuild made %q, want one pkgtorrent-agent package", rpms)
	}
	query := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("rpm", append([]string{"-qp"}, append(args, rpms[0])...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qp %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	var list []string
	for _, f := range strings.Fields(query("-l")) {
		if !strings.HasPrefix(f, "/usr/lib/.build-id") {
			list = append(list, f)
		}
	}
	wantList := []string{
		"/etc/pkgtorrent-agent.conf",
		"/usr/bin/pkgtorrent-agent",
		"/usr/lib/firewalld/services/pkgtorrent-agent.xml",
		"/usr/lib/systemd/system/pkgtorrent-agent.service",
		"/usr/lib/systemd/system/pkgtorrent-agent.socket",
		"/usr/share/doc/pkgtorrent-agent",
		"/usr/share/doc/pkgtorrent-agent/pkgtorrent-agent-ansible.yml",
		"/usr/share/doc/pkgtorrent-agent/pkgtorrent-agent-client-certs.conf",
		"/usr/share/doc/pkgtorrent-agent/pkgtorrent-agent-kickstart.cfg",
		"/usr/share/man/man5/pkgtorrent-agent.conf.5",
		"/usr/share/man/man8/pkgtorrent-agent.8",
	}
	// Man pages may be compressed where rpm has brp-compress; the doc
	// folder has the version in its name where rpm's _docdir_fmt says so
	// (Debian's rpm, not Fedora's).
	docdir := regexp.MustCompile(`^/usr/share/doc/pkgtorrent-agent-[^/]+`)
	for i, f := range list {
		list[i] = docdir.ReplaceAllString(strings.TrimSuffix(strings.TrimSuffix(f, ".gz"), ".xz"), "/usr/share/doc/pkgtorrent-agent")
	}
	if !slices.Equal(list, wantList) {
		t.Errorf("pkgtorrent-agent holds %q, want %q", list, wantList)
	}
	if got := strings.TrimSpace(query("-c")); got != "/etc/pkgtorrent-agent.conf" {
		t.Errorf("configuration files %q, want /etc/pkgtorrent-agent.conf", got)
	}
	scripts := query("--scripts")
	for _, want := range []string{
		"systemd_post pkgtorrent-agent.service", "systemd_preun pkgtorrent-agent.service",
		"systemd_postun_with_restart pkgtorrent-agent.service", "firewalld_reload",
	} {
		if !strings.Contains(scripts, want) {
			t.Errorf("the scriptlets do not run %q:\n%s", want, scripts)
		}
	}
	// The packaged files are the tree's, and the binary runs.
	// BUILDROOT/name-version-release.arch (rpm 4.18) or
	// BUILD/name-version-build/BUILDROOT (4.20).
	roots, _ := filepath.Glob(filepath.Join(top, "BUILDROOT", "*", "usr/bin/pkgtorrent-agent"))
	more, _ := filepath.Glob(filepath.Join(top, "BUILD", "*", "BUILDROOT", "usr/bin/pkgtorrent-agent"))
	if roots = append(roots, more...); len(roots) != 1 {
		t.Fatalf("rpmbuild --noclean left %q, want one build root", roots)
	}
	root := strings.TrimSuffix(roots[0], "usr/bin/pkgtorrent-agent")
	for src, dst := range map[string]string{
		confFile:      "etc/pkgtorrent-agent.conf",
		unitFile:      "usr/lib/systemd/system/pkgtorrent-agent.service",
		firewalldFile: "usr/lib/firewalld/services/pkgtorrent-agent.xml",
		actionsFile:   strings.TrimPrefix(actionsInstalled, "/"),
	} {
		a, _ := os.ReadFile(src)
		b, err := os.ReadFile(filepath.Join(root, dst))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("the package's /%s differs from %s (%v)", dst, src, err)
		}
	}
	// The dnf 5 plugin's package holds the actions file, as a
	// configuration file.
	dnf5, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "dnf5-plugin-pkgtorrent-*.rpm"))
	if len(dnf5) != 1 {
		t.Errorf("rpmbuild made %q, want one dnf5-plugin-pkgtorrent package", dnf5)
	} else if out, err := exec.Command("rpm", "-qpc", dnf5[0]).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != actionsInstalled {
		t.Errorf("dnf5-plugin-pkgtorrent's configuration files: %q (%v), want %s", out, err, actionsInstalled)
	}
	cmd = exec.Command(filepath.Join(root, "usr/bin/pkgtorrent-agent"), "-h")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "-peer-port") {
		t.Errorf("the package's pkgtorrent-agent -h: %v\n%s", err, out)
	}
}
