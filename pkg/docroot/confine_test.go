package docroot

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCleanHostile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // clean path, or the sentinel's name
	}{
		{"/yum/iso/boot.iso", "yum/iso/boot.iso"},
		{"yum/iso/boot.iso", "yum/iso/boot.iso"},
		{"/pool/main/b/bash/bash_5.2%3a1-2_amd64.deb", "pool/main/b/bash/bash_5.2%3a1-2_amd64.deb"},
		{"/yum/100%", "yum/100%"},
		{"/yum/a%zz%2", "yum/a%zz%2"},
		{"/yum/%2e", "yum/%2e"}, // "." once decoded: harmless, a legal name
		{"", "ErrInvalid"},
		{"/", "ErrInvalid"},
		{"/yum//x", "ErrInvalid"},
		{"/yum/./x", "ErrInvalid"},
		{"/yum/x/", "ErrInvalid"},
		{"/yum/x\x00", "ErrInvalid"},
		{"/yum/" + strings.Repeat("a", 256), "ErrInvalid"},
		{"/yum/" + strings.Repeat("a/", 2100), "ErrInvalid"},
		{"/yum/x%00", "ErrInvalid"},
		{"/yum/x%2500", "ErrInvalid"},
		{"//etc/passwd", "ErrOutside"},
		{"///etc/passwd", "ErrOutside"},
		{"/yum/../../etc/passwd", "ErrOutside"},
		{"/..", "ErrOutside"},
		{"/yum/..", "ErrOutside"},
		{"/yum\\..\\..\\etc", "ErrOutside"},
		{"/yum/%2e%2e/%2e%2e/etc/passwd", "ErrOutside"},   // decoded once more by a front end
		{"/yum/%252e%252e/etc/passwd", "ErrOutside"},      // twice more
		{"/yum/%25252e%25252e/etc", "ErrOutside"},         // three times
		{"/yum/..%2f..%2fetc%2fpasswd", "ErrOutside"},     // encoded slash
		{"/yum/x%5c..%5cetc", "ErrOutside"},               // encoded backslash
		{"/yum/%2E%2E", "ErrOutside"},                     // upper-case hex
		{"/yum/%c0%ae%c0%ae/etc", "yum/%c0%ae%c0%ae/etc"}, // overlong UTF-8: no dot on Linux
		{"/yum/%uff0e%uff0e/etc", "yum/%uff0e%uff0e/etc"}, // IIS %u form: not an escape
		{"/yum/\u2025/etc", "yum/\u2025/etc"},             // two-dot leader: a plain name
		{"/yum/%2e%2e%2f", "ErrOutside"},                  // decodes to "../"
		{"/yum/%%32%65%%32%65", "ErrOutside"},             // nested: "%2e%2e" after one round, ".." after two
		{"/yum/%252f", "ErrOutside"},                      // a double-encoded slash
		{"/yum/a%2fb", "ErrOutside"},                      // an encoded slash within a name
		{"/yum/" + strings.Repeat("%25", 10) + "2e", "yum/" + strings.Repeat("%25", 10) + "2e"}, // past maxDecodes
	} {
		got, err := Clean(tc.in)
		var res string
		switch {
		case errors.Is(err, ErrInvalid):
			res = "ErrInvalid"
		case errors.Is(err, ErrOutside):
			res = "ErrOutside"
		case err != nil:
			res = "other error: " + err.Error()
		default:
			res = got
		}
		if res != tc.want {
			t.Errorf("Clean(%.80q) = %.80q (%v), want %.80q", tc.in, res, err, tc.want)
		}
	}
	if _, err := CleanRelative("/etc/passwd"); !errors.Is(err, ErrOutside) {
		t.Errorf("CleanRelative(/etc/passwd) = %v, want ErrOutside", err)
	}
	if got, err := CleanRelative("yum/iso/boot.iso"); err != nil || got != "yum/iso/boot.iso" {
		t.Errorf("CleanRelative(yum/iso/boot.iso) = %q, %v", got, err)
	}
}

// specialRoot returns a document root holding a regular file, a fifo, a
// character device, a socket and a folder under yum/, and symlinks to
// each of them.
func specialRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "www")
	os.MkdirAll(filepath.Join(dir, "yum/dir"), 0o755)
	os.WriteFile(filepath.Join(dir, "yum/file"), []byte("x"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "yum/fifo"), 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// /dev/zero's numbers (1, 5); creating it needs root, which the
	// Makefile's tests run as.
	if err := syscall.Mknod(filepath.Join(dir, "yum/zero"), syscall.S_IFCHR|0o644, 1<<8|5); err != nil {
		t.Fatalf("mknod (the tests need root): %v", err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "yum/sock"))
	if err != nil {
		t.Fatalf("unix socket: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	for _, n := range []string{"file", "fifo", "zero", "sock", "dir"} {
		os.Symlink(n, filepath.Join(dir, "yum/link-"+n))
	}
	return dir
}

func TestOnlyRegularFiles(t *testing.T) {
	dir := specialRoot(t)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range []string{"fifo", "zero", "sock", "dir", "link-fifo", "link-zero", "link-sock", "link-dir"} {
		rel := "yum/" + name
		done := make(chan error, 1)
		go func() {
			f, _, err := r.OpenFile(rel)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("OpenFile(%s) = %v, want ErrNotFound", rel, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("OpenFile(%s) blocked", rel)
		}
		if _, err := r.Stat(rel); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%s) = %v, want ErrNotFound", rel, err)
		}
	}
	for _, rel := range []string{"yum/file", "yum/link-file"} {
		f, fi, err := r.OpenFile(rel)
		if err != nil || fi.Size() != 1 {
			t.Errorf("OpenFile(%s) = %v, want the file", rel, err)
		} else {
			f.Close()
		}
	}
	got, err := r.Glob("yum/*", Limits{})
	if err != nil || fmt.Sprint(got) != "[yum/file yum/link-file]" {
		t.Errorf("Glob(yum/*) = %q, %v; want only the regular file and its link", got, err)
	}
	// A fifo where a glob expects a folder is neither opened nor read.
	got, err = r.Glob("yum/fifo/*", Limits{})
	if err != nil || len(got) != 0 {
		t.Errorf("Glob(yum/fifo/*) = %q, %v; want nothing", got, err)
	}
}

func TestSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "www")
	os.MkdirAll(filepath.Join(dir, "yum/iso"), 0o755)
	os.MkdirAll(filepath.Join(base, "secret"), 0o755)
	os.WriteFile(filepath.Join(base, "secret/key"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(dir, "yum/iso/boot.iso"), []byte("iso"), 0o644)
	links := map[string]string{
		"yum/in-file":     "iso/boot.iso",
		"yum/in-dir":      "iso",
		"yum/in-updown":   "../yum/iso/boot.iso",
		"yum/out-file":    "../../secret/key",
		"yum/out-dir":     "../../secret",
		"yum/out-abs":     filepath.Join(base, "secret/key"),
		"yum/abs-inside":  filepath.Join(dir, "yum/iso/boot.iso"), // absolute, resolved and followed
		"yum/out-back-in": "../../www/yum/iso/boot.iso",           // leaves the root on the way, ends inside
		"yum/loop":        "loop",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		rel  string
		want error
	}{
		{"yum/in-file", nil},
		{"yum/in-dir/boot.iso", nil},
		{"yum/in-updown", nil},
		{"yum/out-file", ErrOutside},
		{"yum/out-dir/key", ErrOutside},
		{"yum/out-abs", ErrOutside},
		{"yum/abs-inside", nil},
		{"yum/out-back-in", nil},
		{"yum/loop", ErrNotFound},
	} {
		f, _, err := r.OpenFile(tc.rel)
		if err == nil {
			f.Close()
		}
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("OpenFile(%s) = %v, want %v", tc.rel, err, tc.want)
		}
	}
	got, err := r.Glob("yum/*", Limits{})
	if err != nil || fmt.Sprint(got) != "[yum/abs-inside yum/in-file yum/in-updown yum/out-back-in]" {
		t.Errorf("Glob(yum/*) = %q, %v; want the links that stay inside", got, err)
	}
	if _, err := r.Glob("yum/out-dir/*", Limits{}); !errors.Is(err, ErrOutside) {
		t.Errorf("Glob(yum/out-dir/*) = %v, want ErrOutside", err)
	}
	if got, err := r.Glob("yum/in-dir/*", Limits{}); err != nil || fmt.Sprint(got) != "[yum/in-dir/boot.iso]" {
		t.Errorf("Glob(yum/in-dir/*) = %q, %v", got, err)
	}
}

func TestGlobLimits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "www")
	for i := range 30 {
		d := filepath.Join(dir, "yum", fmt.Sprintf("d%02d", i))
		os.MkdirAll(d, 0o755)
		for j := range 3 {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d.rpm", j)), nil, 0o644)
		}
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// 90 matches; 30 folder entries + 30 visits + 90 entries + 90 visits.
	if got, err := r.Glob("yum/*/*.rpm", Limits{MaxMatches: 90, MaxVisits: 241}); err != nil || len(got) != 90 {
		t.Errorf("within the limits: %d matches, %v", len(got), err)
	}
	if _, err := r.Glob("yum/*/*.rpm", Limits{MaxMatches: 89, MaxVisits: 1000}); !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), "more than 89 files") {
		t.Errorf("one match too many: %v, want ErrTooMany saying more than 89 files", err)
	}
	if _, err := r.Glob("yum/*/*.rpm", Limits{MaxMatches: 1000, MaxVisits: 100}); !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), "visits more than 100") {
		t.Errorf("walk too long: %v, want ErrTooMany saying it visits more than 100 entries", err)
	}
}

// TestGlobHugeFolder checks that the walk limit stops a glob while it is
// reading a huge folder, not after.
func TestGlobHugeFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "www")
	os.MkdirAll(filepath.Join(dir, "yum/big"), 0o755)
	for i := range 5000 {
		os.WriteFile(filepath.Join(dir, "yum/big", fmt.Sprintf("f%05d", i)), nil, 0o644)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := walker{root: r, lim: Limits{MaxVisits: 1500}}
	if _, err := w.readDir("yum/big"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("readDir of 5000 entries with a limit of 1500: %v, want ErrTooMany", err)
	}
	if w.visits > 1500+readBatch {
		t.Errorf("read %d entries before stopping, want at most %d", w.visits, 1500+readBatch)
	}
}

// TestFS checks the fs.FS the standalone server serves files from.
func TestFS(t *testing.T) {
	dir := specialRoot(t)
	os.MkdirAll(filepath.Join(filepath.Dir(dir), "secret"), 0o755)
	os.WriteFile(filepath.Join(filepath.Dir(dir), "secret", "key"), []byte("secret"), 0o600)
	os.Symlink("../../secret/key", filepath.Join(dir, "yum/out"))
	// Absolute symlinks that stay inside, as mirrors hold them: served,
	// as the service builds torrents of them.
	os.Symlink(filepath.Join(dir, "yum/file"), filepath.Join(dir, "yum/abs-file"))
	os.Symlink(filepath.Join(dir, "yum"), filepath.Join(dir, "latest"))
	os.Symlink(filepath.Join(filepath.Dir(dir), "secret/key"), filepath.Join(dir, "yum/abs-out"))
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fsys := r.FS()
	for _, tc := range []struct {
		name string
		want error
	}{
		{"yum/file", nil},
		{"yum/link-file", nil},
		{"yum/dir", nil},
		{".", nil},
		{"yum/abs-file", nil},
		{"latest/file", nil},
		{"latest", nil},
		{"yum/fifo", fs.ErrNotExist},
		{"yum/link-fifo", fs.ErrNotExist},
		{"yum/zero", fs.ErrNotExist},
		{"yum/sock", fs.ErrNotExist},
		{"yum/missing", fs.ErrNotExist},
		{"yum/" + strings.Repeat("a", 300), fs.ErrNotExist},
		{"yum/out", fs.ErrPermission},
		{"yum/abs-out", fs.ErrPermission},
		{"latest/fifo", fs.ErrNotExist},
		{"../secret/key", fs.ErrInvalid},
	} {
		done := make(chan error, 1)
		go func() {
			f, err := fsys.Open(tc.name)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Open(%.40s) = %v, want %v", tc.name, err, tc.want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Open(%s) blocked", tc.name)
		}
	}
}
