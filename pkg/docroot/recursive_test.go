package docroot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// tree makes a document root with files, hidden entries and symlinks.
func tree(t *testing.T) *Root {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{
		"yum/top.rpm", "yum/el9/Packages/a.rpm", "yum/el9/Packages/b.txt",
		"yum/el9/Packages/deep/er/c.rpm", "yum/el9/.hidden/h.rpm", "yum/el9/.dot.rpm",
		"yum/iso/boot.iso", "other/o.rpm",
	} {
		name := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink back up (a loop for anyone who follows it), one to a
	// folder, one to a file, and one out of the root.
	for link, target := range map[string]string{
		"yum/el9/loop": "..", "yum/el9/isolink": "../iso", "yum/el9/filelink.rpm": "Packages/a.rpm",
		"yum/el9/out.rpm": "/etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestGlobRecursive(t *testing.T) {
	r := tree(t)
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"yum/el9/**", []string{"yum/el9/Packages/a.rpm", "yum/el9/Packages/b.txt", "yum/el9/Packages/deep/er/c.rpm", "yum/el9/filelink.rpm"}},
		{"yum/el9/**/*.rpm", []string{"yum/el9/Packages/a.rpm", "yum/el9/Packages/deep/er/c.rpm", "yum/el9/filelink.rpm"}},
		{"yum/**/c.rpm", []string{"yum/el9/Packages/deep/er/c.rpm"}},
		// Zero folders: ** matches nothing in between.
		{"yum/el9/Packages/**/a.rpm", []string{"yum/el9/Packages/a.rpm"}},
		{"yum/**/**/c.rpm", []string{"yum/el9/Packages/deep/er/c.rpm"}},
		// Hidden folders only when the pattern names them.
		{"yum/el9/.hidden/**", []string{"yum/el9/.hidden/h.rpm"}},
		{"yum/**/.dot.rpm", []string{"yum/el9/.dot.rpm"}},
		{"yum/**/*.iso", []string{"yum/iso/boot.iso"}},
		{"**/o.rpm", []string{"other/o.rpm"}},
		{"yum/nothing/**", nil},
		// Within a segment, ** is just *.
		{"yum/el9/Packages/**.rpm", []string{"yum/el9/Packages/a.rpm"}},
	} {
		got, err := r.Glob(tc.pattern, Limits{MaxMatches: 100, MaxVisits: 1000})
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

func TestGlobRecursiveLimits(t *testing.T) {
	r := tree(t)
	if _, err := r.Glob("yum/**", Limits{MaxMatches: 2, MaxVisits: 1000}); !errors.Is(err, ErrTooMany) {
		t.Errorf("too many matches: err = %v, want ErrTooMany", err)
	}
	if _, err := r.Glob("**/*.none", Limits{MaxMatches: 100, MaxVisits: 5}); !errors.Is(err, ErrTooMany) {
		t.Errorf("too many visits: err = %v, want ErrTooMany", err)
	}
	// Unbounded, the symlink loop still ends.
	got, err := r.Glob("**", Limits{})
	if err != nil || len(got) != 7 {
		t.Errorf("** = %q, %v; want the 7 visible files", got, err)
	}
}
