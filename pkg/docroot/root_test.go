package docroot

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tree is the document root of these tests, relative to root/; outside/
// sits next to root/ and holds what no request may reach.
//
//	root/yum/el8/x86_64/p1.rpm
//	root/yum/el9/x86_64/{P0.rpm,p2.rpm,.hidden.rpm,c.txt}
//	root/yum/el9/x86_64/sub.rpm/           a folder named like a package
//	root/yum/el9/x86_64/inner.rpm  -> p2.rpm                 (inside)
//	root/yum/el9/x86_64/escape.rpm -> outside/secret.rpm     (absolute)
//	root/yum/el9/x86_64/relesc.rpm -> ../../../../outside/secret.rpm
//	root/yum/el9/aarch64/p3.rpm
//	root/yum/.hiddendir/x86_64/h.rpm
//	root/yum/in-link  -> el9                                 (inside)
//	root/yum/out-link -> outside                             (folder outside)
//	root/yum/iso/{boot1.iso,boot2.iso,bootX.iso}
//	root/yum/special/{fifo,sock,dangling -> nowhere,loop -> loop}
//	root/top.txt
var regularFiles = map[string]string{
	"yum/el8/x86_64/p1.rpm":          "p1",
	"yum/el9/x86_64/P0.rpm":          "P0",
	"yum/el9/x86_64/p2.rpm":          "p2 content",
	"yum/el9/x86_64/.hidden.rpm":     "hidden",
	"yum/el9/x86_64/c.txt":           "c",
	"yum/el9/aarch64/p3.rpm":         "p3",
	"yum/.hiddendir/x86_64/h.rpm":    "h",
	"yum/iso/boot1.iso":              "1",
	"yum/iso/boot2.iso":              "2",
	"yum/iso/bootX.iso":              "X",
	"yum/el9/x86_64/sub.rpm/not.rpm": "nested",
	"top.txt":                        "top",
}

type fixture struct {
	dir     string // the document root
	outside string // a folder next to it
	root    *Root
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	fx := &fixture{dir: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	mkfile := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for rel, content := range regularFiles {
		mkfile(filepath.Join(fx.dir, filepath.FromSlash(rel)), content)
	}
	mkfile(filepath.Join(fx.outside, "secret.rpm"), "secret")
	mkfile(filepath.Join(fx.outside, "x86_64", "secret.rpm"), "secret")
	links := map[string]string{
		"yum/el9/x86_64/inner.rpm":  "p2.rpm",
		"yum/el9/x86_64/escape.rpm": filepath.Join(fx.outside, "secret.rpm"),
		"yum/el9/x86_64/relesc.rpm": "../../../../outside/secret.rpm",
		"yum/in-link":               "el9",
		"yum/out-link":              fx.outside,
		"yum/special/dangling":      "nowhere",
		"yum/special/loop":          "loop",
		"yum/abs-in.rpm":            filepath.Join(fx.dir, "yum", "el9", "x86_64", "p2.rpm"),
		"yum/abs-in-dir":            filepath.Join(fx.dir, "yum", "el9"),
	}
	if err := os.MkdirAll(filepath.Join(fx.dir, "yum", "special"), 0o755); err != nil {
		t.Fatal(err)
	}
	for rel, target := range links {
		if err := os.Symlink(target, filepath.Join(fx.dir, filepath.FromSlash(rel))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(fx.dir, "yum", "special", "fifo"), 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// A socket inode made with mknod: opening it fails with ENXIO as
	// for a bound one, without the length limit of socket paths.
	if err := syscall.Mknod(filepath.Join(fx.dir, "yum", "special", "sock"), syscall.S_IFSOCK|0o644, 0); err != nil {
		t.Fatalf("mknod socket: %v", err)
	}
	var err error
	fx.root, err = Open(fx.dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { fx.root.Close() })
	return fx
}

func TestOpen(t *testing.T) {
	fx := newFixture(t)
	if fx.root.Dir() != fx.dir {
		t.Errorf("Dir() = %q, want %q", fx.root.Dir(), fx.dir)
	}
	if _, err := Open(filepath.Join(fx.dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing folder) error = %v, want %v", err, os.ErrNotExist)
	}
}

var lookupTests = []struct {
	name    string
	rel     string
	content string // for files that open
	wantErr error
}{
	{"regular file", "yum/el9/x86_64/p2.rpm", "p2 content", nil},
	{"file at the top", "top.txt", "top", nil},
	{"hidden file by name", "yum/el9/x86_64/.hidden.rpm", "hidden", nil},
	{"symlink inside the root is followed", "yum/el9/x86_64/inner.rpm", "p2 content", nil},
	{"through a symlinked folder inside", "yum/in-link/x86_64/P0.rpm", "P0", nil},
	{"absolute symlink to a file inside", "yum/abs-in.rpm", "p2 content", nil},
	{"through an absolute symlinked folder inside", "yum/abs-in-dir/x86_64/P0.rpm", "P0", nil},

	{"absolute symlink to a file outside", "yum/el9/x86_64/escape.rpm", "", ErrOutside},
	{"relative symlink to a file outside", "yum/el9/x86_64/relesc.rpm", "", ErrOutside},
	{"through a symlinked folder outside", "yum/out-link/secret.rpm", "", ErrOutside},
	{"dot-dot out of the root", "../outside/secret.rpm", "", ErrOutside},

	{"missing", "yum/el9/x86_64/nope.rpm", "", ErrNotFound},
	{"missing folder", "nope/x.rpm", "", ErrNotFound},
	{"below a regular file", "top.txt/x", "", ErrNotFound},
	{"folder", "yum/el9/x86_64", "", ErrNotFound},
	{"folder named like a file", "yum/el9/x86_64/sub.rpm", "", ErrNotFound},
	{"symlink to a folder inside", "yum/in-link", "", ErrNotFound},
	{"fifo", "yum/special/fifo", "", ErrNotFound},
	{"unix socket", "yum/special/sock", "", ErrNotFound},
	{"dangling symlink", "yum/special/dangling", "", ErrNotFound},
	{"symlink loop", "yum/special/loop", "", ErrNotFound},
	{"segment longer than NAME_MAX", "yum/" + strings.Repeat("x", 256), "", ErrInvalid},
}

// TestStat runs the table through Root.Stat and through one Lookup (twice,
// so that the second time its folders are open), which must answer alike.
func TestStat(t *testing.T) {
	fx := newFixture(t)
	look := fx.root.Lookup()
	defer look.Close()
	for _, via := range []struct {
		name string
		stat func(string) (fs.FileInfo, error)
	}{{"Root", fx.root.Stat}, {"Lookup", look.Stat}, {"Lookup again", look.Stat}} {
		t.Run(via.name, func(t *testing.T) { testStat(t, via.stat) })
	}
}

func testStat(t *testing.T, stat func(string) (fs.FileInfo, error)) {
	for _, tt := range lookupTests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := stat(tt.rel)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Stat(%q) error = %v, want %v", tt.rel, err, tt.wantErr)
				}
				if fi != nil {
					t.Errorf("Stat(%q) FileInfo = %v, want nil", tt.rel, fi.Name())
				}
				return
			}
			if err != nil {
				t.Fatalf("Stat(%q) error = %v, want nil", tt.rel, err)
			}
			if !fi.Mode().IsRegular() || fi.Size() != int64(len(tt.content)) {
				t.Errorf("Stat(%q) = mode %v size %d, want a regular file of %d bytes", tt.rel, fi.Mode(), fi.Size(), len(tt.content))
			}
		})
	}
}

// TestOpenFile runs the table through Root.OpenFile and through one
// Lookup (twice), which must answer alike.
func TestOpenFile(t *testing.T) {
	fx := newFixture(t)
	look := fx.root.Lookup()
	defer look.Close()
	for _, via := range []struct {
		name string
		open func(string) (*os.File, fs.FileInfo, error)
	}{{"Root", fx.root.OpenFile}, {"Lookup", look.OpenFile}, {"Lookup again", look.OpenFile}} {
		t.Run(via.name, func(t *testing.T) { testOpenFile(t, via.open) })
	}
}

func testOpenFile(t *testing.T, open func(string) (*os.File, fs.FileInfo, error)) {
	for _, tt := range lookupTests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				f   *os.File
				fi  os.FileInfo
				err error
			}
			ch := make(chan result, 1)
			go func() {
				f, fi, err := open(tt.rel)
				ch <- result{f, fi, err}
			}()
			var r result
			select {
			case r = <-ch:
			case <-time.After(10 * time.Second):
				t.Fatalf("OpenFile(%q) blocked for 10 s, want it to return at once", tt.rel)
			}
			if tt.wantErr != nil {
				if !errors.Is(r.err, tt.wantErr) {
					t.Errorf("OpenFile(%q) error = %v, want %v", tt.rel, r.err, tt.wantErr)
				}
				if r.f != nil {
					r.f.Close()
					t.Errorf("OpenFile(%q) returned an open file, want nil", tt.rel)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("OpenFile(%q) error = %v, want nil", tt.rel, r.err)
			}
			defer r.f.Close()
			if r.fi.Size() != int64(len(tt.content)) {
				t.Errorf("OpenFile(%q) size = %d, want %d", tt.rel, r.fi.Size(), len(tt.content))
			}
			got, err := io.ReadAll(r.f)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(got) != tt.content {
				t.Errorf("OpenFile(%q) content = %q, want %q", tt.rel, got, tt.content)
			}
		})
	}
}

// TestStatPermissionDenied needs a user that permissions apply to.
func TestStatPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: permissions do not apply")
	}
	fx := newFixture(t)
	locked := filepath.Join(fx.dir, "yum", "el8")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	if _, err := fx.root.Stat("yum/el8/x86_64/p1.rpm"); !errors.Is(err, ErrOutside) {
		t.Errorf("Stat below an unreadable folder: error = %v, want %v", err, ErrOutside)
	}
}

func TestGlob(t *testing.T) {
	fx := newFixture(t)
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"star in the last segment", "yum/el9/x86_64/*.rpm", []string{
			// escape.rpm and relesc.rpm lead outside, sub.rpm is a
			// folder, .hidden.rpm is hidden: all left out.
			"yum/el9/x86_64/P0.rpm", "yum/el9/x86_64/inner.rpm", "yum/el9/x86_64/p2.rpm",
		}},
		{"hidden files when the segment starts with a dot", "yum/el9/x86_64/.*", []string{
			"yum/el9/x86_64/.hidden.rpm",
		}},
		{"star in a middle segment", "yum/*/x86_64/*.rpm", []string{
			"yum/abs-in-dir/x86_64/P0.rpm", "yum/abs-in-dir/x86_64/inner.rpm", "yum/abs-in-dir/x86_64/p2.rpm",
			"yum/el8/x86_64/p1.rpm",
			"yum/el9/x86_64/P0.rpm", "yum/el9/x86_64/inner.rpm", "yum/el9/x86_64/p2.rpm",
			"yum/in-link/x86_64/P0.rpm", "yum/in-link/x86_64/inner.rpm", "yum/in-link/x86_64/p2.rpm",
		}},
		{"hidden folder when the segment starts with a dot", "yum/.*/x86_64/*.rpm", []string{
			"yum/.hiddendir/x86_64/h.rpm",
		}},
		{"two wildcard segments", "yum/el*/*/p?.rpm", []string{
			"yum/el8/x86_64/p1.rpm", "yum/el9/aarch64/p3.rpm", "yum/el9/x86_64/p2.rpm",
		}},
		{"digit class", "yum/iso/boot[0-9].iso", []string{"yum/iso/boot1.iso", "yum/iso/boot2.iso"}},
		{"negated class", "yum/iso/boot[!0-9].iso", []string{"yum/iso/bootX.iso"}},
		{"question mark", "yum/iso/boot?.iso", []string{"yum/iso/boot1.iso", "yum/iso/boot2.iso", "yum/iso/bootX.iso"}},
		{"braces are literal", "yum/iso/boot{1,X}*", nil},
		{"through an absolute symlinked folder inside", "yum/abs-in-dir/x86_64/P*.rpm", []string{"yum/abs-in-dir/x86_64/P0.rpm"}},
		{"star at the top", "*", []string{"top.txt"}},
		{"star matches a file at the top only", "*.txt", []string{"top.txt"}},
		{"no match", "yum/iso/*.rpm", nil},
		{"missing folder", "nope/*", nil},
		{"wildcard below a file", "top.txt/*", nil},
		{"special files are not matched", "yum/special/*", nil},
		{"plain path", "yum/iso/boot1.iso", []string{"yum/iso/boot1.iso"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fx.root.Glob(tt.pattern, Limits{MaxMatches: 100, MaxVisits: 1000})
			if err != nil {
				t.Fatalf("Glob(%q) error = %v, want nil", tt.pattern, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Glob(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestGlobErrors(t *testing.T) {
	fx := newFixture(t)
	tests := []struct {
		name    string
		pattern string
		lim     Limits
		want    error
	}{
		{"plain path missing", "yum/iso/boot9.iso", Limits{}, ErrNotFound},
		{"plain path with a segment too long", strings.Repeat("0", 256), Limits{}, ErrInvalid},
		{"plain path to a folder", "yum/iso", Limits{}, ErrNotFound},
		{"plain path leading outside", "yum/el9/x86_64/escape.rpm", Limits{}, ErrOutside},
		{"unclosed class", "yum/iso/boot[.iso", Limits{}, ErrInvalid},
		{"more matches than allowed", "yum/iso/*", Limits{MaxMatches: 2}, ErrTooMany},
		{"more visits than allowed", "yum/*/*/*", Limits{MaxVisits: 5}, ErrTooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fx.root.Glob(tt.pattern, tt.lim)
			if !errors.Is(err, tt.want) {
				t.Errorf("Glob(%q) error = %v, want %v", tt.pattern, err, tt.want)
			}
			if got != nil {
				t.Errorf("Glob(%q) = %q, want nil", tt.pattern, got)
			}
		})
	}
}

// TestGlobLimitsBoundary checks that the limits allow exactly what they say.
func TestGlobLimitsBoundary(t *testing.T) {
	fx := newFixture(t)
	got, err := fx.root.Glob("yum/iso/*", Limits{MaxMatches: 3})
	if err != nil || len(got) != 3 {
		t.Errorf("Glob with MaxMatches = matches: %q, %v; want 3 files and no error", got, err)
	}
	// yum/iso/* reads 3 names in yum/iso and visits each: 1 (yum) + 1
	// (yum/iso) + 3 + 3 = 8 entries.
	got, err = fx.root.Glob("yum/iso/*", Limits{MaxVisits: 8})
	if err != nil || len(got) != 3 {
		t.Errorf("Glob with MaxVisits = 8: %q, %v; want 3 files and no error", got, err)
	}
	if _, err := fx.root.Glob("yum/iso/*", Limits{MaxVisits: 7}); !errors.Is(err, ErrTooMany) {
		t.Errorf("Glob with MaxVisits = 7: error = %v, want %v", err, ErrTooMany)
	}
}
