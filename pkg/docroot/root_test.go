package docroot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree makes a small document root with hidden names, symlinks inside and
// outside it, and nested folders, and opens it.
func tree(t testing.TB) *Root {
	t.Helper()
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.rpm"), []byte("x"), 0o644)
	for _, f := range []string{
		"yum/a.rpm",
		"yum/.e.rpm",
		"yum/el9/x86_64/Packages/b.rpm",
		"yum/el9/x86_64/Packages/c.txt",
		"yum/el9/.hidden/d.rpm",
		"yum/b/b/x.rpm",
		"yum/iso/boot.iso",
		"other/readme.txt",
	} {
		name := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"yum/link": "el9",
		"yum/out":  outside,
		"yum/loop": ".",
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

func TestGlob(t *testing.T) {
	r := tree(t)
	for _, tc := range []struct {
		name      string
		recursive bool
		pattern   string
		want      []string
	}{
		{"star", false, "yum/*.rpm", []string{"yum/a.rpm"}},
		{"hidden named", false, "yum/.*.rpm", []string{"yum/.e.rpm"}},
		{"folders", false, "yum/el9/*/Packages/*.rpm", []string{"yum/el9/x86_64/Packages/b.rpm"}},
		{"braces", false, "*/*.{rpm,txt}", []string{"other/readme.txt", "yum/a.rpm"}},
		{"through a symlink inside", false, "yum/link/*/Packages/*.rpm", []string{"yum/link/x86_64/Packages/b.rpm"}},
		{"symlink outside left out", false, "yum/out/*", nil},
		{"double star is one folder in Glob", false, "yum/**/boot.iso", []string{"yum/iso/boot.iso"}},
		{"double star is not recursive in Glob", false, "yum/**/b.rpm", nil},
		{"plain path", false, "yum/iso/boot.iso", []string{"yum/iso/boot.iso"}},

		{"any depth", true, "yum/**/*.rpm", []string{"yum/a.rpm", "yum/b/b/x.rpm", "yum/el9/x86_64/Packages/b.rpm"}},
		{"from the top", true, "**/*.txt", []string{"other/readme.txt", "yum/el9/x86_64/Packages/c.txt"}},
		{"trailing", true, "yum/el9/**", []string{"yum/el9/x86_64/Packages/b.rpm", "yum/el9/x86_64/Packages/c.txt"}},
		{"zero folders", true, "yum/iso/**/boot.iso", []string{"yum/iso/boot.iso"}},
		{"two double stars, one match each", true, "yum/**/b/**", []string{"yum/b/b/x.rpm"}},
		{"repeated double star", true, "yum/**/**/x.rpm", []string{"yum/b/b/x.rpm"}},
		{"hidden folder named", true, "yum/el9/.hidden/**", []string{"yum/el9/.hidden/d.rpm"}},
		{"under a symlink named", true, "yum/link/**/*.rpm", []string{"yum/link/x86_64/Packages/b.rpm"}},
		{"symlink outside named", true, "yum/out/**", nil},
		{"in the middle of a segment it is a star", true, "yum/el9/x86_64/Packages/**.rpm", []string{"yum/el9/x86_64/Packages/b.rpm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			glob := r.Glob
			if tc.recursive {
				glob = r.GlobRecursive
			}
			got, err := glob(tc.pattern, Limits{MaxMatches: 100, MaxVisits: 1000})
			if err != nil {
				t.Fatalf("%s: %v", tc.pattern, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: %q, want %q", tc.pattern, got, tc.want)
			}
		})
	}
}

func TestGlobErrors(t *testing.T) {
	r := tree(t)
	for _, tc := range []struct {
		name      string
		recursive bool
		pattern   string
		lim       Limits
		want      error
	}{
		{"too many matches", true, "**", Limits{MaxMatches: 2}, ErrTooMany},
		{"too many visits", true, "**/*.rpm", Limits{MaxVisits: 5}, ErrTooMany},
		{"too many visits without double star", false, "yum/*", Limits{MaxVisits: 3}, ErrTooMany},
		{"bad pattern", true, "yum/**/[", Limits{}, ErrInvalid},
		{"plain path missing", true, "yum/nope.rpm", Limits{}, ErrNotFound},
		{"plain path outside", false, "yum/out/secret.rpm", Limits{}, ErrOutside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			glob := r.Glob
			if tc.recursive {
				glob = r.GlobRecursive
			}
			got, err := glob(tc.pattern, tc.lim)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %q, %v; want %v", tc.pattern, got, err, tc.want)
			}
		})
	}
}

// FuzzGlobRecursive checks, for any pattern, that matches are sorted,
// unique, regular files inside the root, and within the limits.
func FuzzGlobRecursive(f *testing.F) {
	for _, p := range []string{"yum/**/*.rpm", "**", "**/**/x.rpm", "yum/{a,b}/**", "yum/[a-c]*/**/?.rpm", "yum/.*", "**/../x"} {
		f.Add(p)
	}
	r := tree(f)
	f.Fuzz(func(t *testing.T, pattern string) {
		rel, err := Clean(pattern)
		if err != nil {
			return
		}
		lim := Limits{MaxMatches: 5, MaxVisits: 200}
		got, err := r.GlobRecursive(rel, lim)
		if err != nil {
			if !errors.Is(err, ErrTooMany) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrOutside) {
				t.Fatalf("%q: unexpected error %v", rel, err)
			}
			return
		}
		if len(got) > lim.MaxMatches || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("%q: %q is not a sorted, unique list of at most %d", rel, got, lim.MaxMatches)
		}
		for _, m := range got {
			if strings.Contains(m, "out/") {
				t.Errorf("%q matched %q outside the root", rel, m)
			}
			if _, err := r.Stat(m); err != nil {
				t.Errorf("%q matched %q: %v", rel, m, err)
			}
		}
	})
}
