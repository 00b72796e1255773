package fleet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// dnf5RootDir is where `make dnf5-root` builds the dnf 5 root, under the
// repository's root.
const dnf5RootDir = "bin/dnf5-root"

// DNF5Root returns the dnf 5 root: Debian unstable's dnf5, which
// debootstrap installs once per machine (`make dnf5-root`, a step of
// `make test`). It fails the test when the root is missing or the test
// is not root (dnf5 runs in a chroot, in a mount namespace of its own),
// but for one case: when make could not build the root (debootstrap
// failed: no network, or unstable could not install dnf5 that day), the
// test skips, quoting why (bin/dnf5-root.failed), so that a day of
// Debian unstable does not stop every other test from counting.
func DNF5Root(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("dnf 5 hosts run dnf5 in a chroot of %s: run the tests as root (as `make test` on a fresh machine does)", dnf5RootDir)
	}
	root := e2e.Path(t, dnf5RootDir)
	if why, err := os.ReadFile(root + ".failed"); err == nil {
		t.Skipf("SKIPPED: make could not build the dnf 5 root %s:\n%s", dnf5RootDir, why)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/dnf5")); err != nil {
		t.Fatalf("no dnf 5 root (%v): `make dnf5-root` builds it (make test does, once per machine)", err)
	}
	return root
}

// NewDNF5Host is NewHost for a dnf 5 host.
func NewDNF5Host(t testing.TB, name string) *Host {
	t.Helper()
	h := NewHost(t, name)
	h.DNF5Root = DNF5Root(t)
	return h
}

// chrootScript runs "$@" chrooted in $1, in the mount namespace unshare
// made for it, so that every mount ends with the command: the root
// read-only (the cached root stays as debootstrap left it), /proc, and the
// temporary folder $2 at its own path, which holds the hosts' folders and
// the test's binaries, so that their paths are the same inside.
const chrootScript = `set -e
root=$1 tmp=$2
shift 2
mkdir -p "$root$tmp"
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t proc proc "$root/proc"
mount --bind "$tmp" "$root$tmp"
exec chroot "$root" "$@"`

// chrooted returns the program and arguments that run prog with args
// in root (see chrootScript).
func chrooted(root, prog string, args []string) (string, []string) {
	return "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", chrootScript, "sh",
		root, os.TempDir(), prog}, args...)
}

// InstallDNF5Plugin puts the shipped dnf 5 plugin (the actions file
// deploy/dnf/pkgtorrent.actions, with the agent binary bin and the
// agent's URL) and the root's configuration of libdnf5's actions plugin
// that runs it in the host's plugin folder.
func InstallDNF5Plugin(t testing.TB, h *Host, bin, agent string) {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join(h.DNF5Root, "etc/dnf/libdnf5-plugins/actions.conf"))
	if err != nil {
		t.Fatalf("the dnf 5 root has no actions plugin: %v", err)
	}
	dir := filepath.Join(h.Dir, "plugins")
	e2e.WriteFile(t, filepath.Join(dir, "actions.conf"), string(conf))
	if err := os.MkdirAll(filepath.Join(dir, "actions.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(e2e.Path(t, "deploy/dnf/pkgtorrent.actions"))
	if err != nil {
		t.Fatal(err)
	}
	e2e.WriteFile(t, filepath.Join(dir, "actions.d", "pkgtorrent.actions"), e2e.Replace(t, "deploy/dnf/pkgtorrent.actions", string(text),
		"/usr/bin/pkgtorrent-agent ", bin+" ", "-agent http://127.0.0.1:7881 ", "-agent "+agent+" "))
}
