package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// tool is a program the tests drive and the Debian package that installs
// it.
type tool struct {
	what  string   // as named in the failure message
	pkg   string   // Debian package
	paths []string // where to look besides PATH (first one found wins)
	file  bool     // paths[0] is a file that must exist, not a program
}

var tools = map[string]tool{
	"go":                {"the Go toolchain", "golang (or Go from go.dev)", nil, false},
	"nginx":             {"nginx", "nginx-light", []string{"/usr/sbin/nginx"}, false},
	"apache2":           {"apache2", "apache2", []string{"/usr/sbin/apache2"}, false},
	"mod_fcgid":         {"Apache mod_fcgid", "libapache2-mod-fcgid", []string{"/usr/lib/apache2/modules/mod_fcgid.so"}, true},
	"aria2c":            {"aria2c", "aria2", nil, false},
	"opentracker":       {"opentracker", "opentracker", nil, false},
	"curl":              {"curl", "curl", nil, false},
	"transmission-cli":  {"transmission-cli", "transmission-cli", nil, false},
	"transmission-show": {"transmission-show", "transmission-cli", nil, false},
	"qbittorrent-nox":   {"qbittorrent-nox", "qbittorrent-nox", nil, false},
	"libtorrent":        {"libtorrent for /usr/bin/python3", "python3-libtorrent", []string{"/usr/bin/python3"}, false},
	"groff":             {"groff", "groff-base", nil, false},
	"man":               {"man", "man-db", nil, false},
	// The checks of the files under deploy/.
	"systemd-analyze":      {"systemd-analyze", "systemd", nil, false},
	"systemd-sysusers":     {"systemd-sysusers", "systemd", nil, false},
	"systemd-tmpfiles":     {"systemd-tmpfiles", "systemd", nil, false},
	"rpmspec":              {"rpmspec", "rpm", nil, false},
	"rpmbuild":             {"rpmbuild", "rpm", nil, false},
	"firewall-offline-cmd": {"firewall-offline-cmd", "firewalld", nil, false},
	// The fleet: dnf hosts, their repository, network namespaces.
	"dnf":          {"dnf", "dnf (with python3-dnf)", nil, false},
	"createrepo_c": {"createrepo_c", "createrepo-c", nil, false},
	"unshare":      {"unshare", "util-linux", []string{"/usr/bin/unshare"}, false},
	"ip":           {"ip", "iproute2", []string{"/usr/sbin/ip", "/sbin/ip"}, false},
	"tc":           {"tc", "iproute2", []string{"/usr/sbin/tc", "/sbin/tc"}, false},
	"patch":        {"patch", "patch", nil, false},
	"prlimit":      {"prlimit", "util-linux", nil, false},
	// A host behind an HTTP proxy.
	"tinyproxy":        {"tinyproxy", "tinyproxy", []string{"/usr/bin/tinyproxy"}, false},
	"git":              {"git", "git", nil, false},
	"ansible-playbook": {"ansible-playbook", "ansible-core", nil, false},
}

// Need returns the path of a program the test needs, or fails the test
// with one line naming the Debian package: the tests never skip because
// a program is missing.
func Need(t testing.TB, name string) string {
	t.Helper()
	tool, ok := tools[name]
	if !ok {
		t.Fatalf("e2e.Need: unknown tool %q", name)
	}
	missing := func(detail string) {
		t.Fatalf("%s is missing (%s): install the Debian package %s (`make deps` installs it)", tool.what, detail, tool.pkg)
	}
	if tool.file {
		if _, err := os.Stat(tool.paths[0]); err != nil {
			missing(tool.paths[0] + " not found")
		}
		return tool.paths[0]
	}
	if name == "libtorrent" {
		py := tool.paths[0]
		out, err := exec.Command(py, "-c", "import libtorrent; print(libtorrent.__version__)").CombinedOutput()
		if err != nil {
			missing(fmt.Sprintf("%s -c 'import libtorrent': %v: %s", py, err, firstLine(out)))
		}
		return py
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range tool.paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	missing(name + " not in PATH")
	return ""
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
