package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFetch: `pkgtorrent-agent fetch` writes each file whole through the
// running agent, reports the one that failed, and exits 1 for it.
func TestFetch(t *testing.T) {
	root := t.TempDir()
	want := strings.Repeat("iso image bytes\n", 5000)
	if err := os.MkdirAll(filepath.Join(root, "iso"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "iso", "boot.iso"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	origin := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer origin.Close()
	a := startShipped(t, "-allow", origin.URL+"/")

	dir := t.TempDir()
	out, errOut, code := runAgent(t, "fetch", "-agent", a.base, "-o", dir,
		origin.URL+"/iso/boot.iso", origin.URL+"/iso/missing.iso")
	if code != 1 {
		t.Errorf("exit status %d, want 1 for the missing file (stdout %q, stderr %q)", code, out, errOut)
	}
	got, err := os.ReadFile(filepath.Join(dir, "boot.iso"))
	if err != nil || string(got) != want {
		t.Errorf("boot.iso: %d bytes (%v), want the mirror's %d", len(got), err, len(want))
	}
	if !strings.Contains(errOut, "missing.iso: 404") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr %q, want one line naming missing.iso and its 404", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.iso")); !os.IsNotExist(err) {
		t.Errorf("missing.iso was written (%v): a failed fetch leaves nothing", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d files in the output folder, want boot.iso only (no temporary files)", len(ents))
	}
	// A folder that does not exist yet is created, as curl --create-dirs
	// and wget -P do, and the file gets 0666 less the umask, as theirs
	// do, not the temporary file's 0600.
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	deep := filepath.Join(t.TempDir(), "new", "folder")
	if out, errOut, code := runAgent(t, "fetch", "-agent", a.base, "-o", deep, origin.URL+"/iso/boot.iso"); code != 0 {
		t.Errorf("fetch -o into a missing folder: exit %d (stdout %q, stderr %q), want 0", code, out, errOut)
	} else if fi, err := os.Stat(filepath.Join(deep, "boot.iso")); err != nil || fi.Mode().Perm() != os.FileMode(0o666&^umask) {
		t.Errorf("boot.iso in the new folder: %v, %v; want mode %v (0666 less the umask %03o)", fi.Mode(), err, os.FileMode(0o666&^umask), umask)
	}
	for _, bad := range [][]string{{"fetch"}, {"fetch", "ftp://x/y"}, {"fetch", "-nope"}} {
		if _, _, code := runAgent(t, bad...); code != 2 {
			t.Errorf("%q: exit status %d, want 2", bad, code)
		}
	}
}
