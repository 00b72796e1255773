package docroot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzClean checks Clean's promise: whatever it accepts is a relative path
// without "..", ".", empty segments, NUL bytes or backslashes, and it
// only removes the one leading slash.
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"yum/el9/x86_64/Packages/bash-5.1.8-9.el9.x86_64.rpm",
		"/yum/iso/boot.iso",
		"yum/*/x86_64/[a-c]*.rpm",
		"../etc/passwd",
		"yum/../../etc",
		`yum\..\x`,
		"yum//x",
		"yum/./x",
		"//x",
		"/",
		"",
		"x\x00y",
		"yum/..x/...",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rel, err := Clean(p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrOutside) {
				t.Fatalf("Clean(%q) error = %v, want ErrInvalid or ErrOutside", p, err)
			}
			if rel != "" {
				t.Fatalf("Clean(%q) = %q with error %v, want an empty result", p, rel, err)
			}
			return
		}
		switch {
		case rel == "":
			t.Fatalf("Clean(%q) = empty path, want an error", p)
		case strings.HasPrefix(rel, "/"):
			t.Fatalf("Clean(%q) = %q starts with a slash", p, rel)
		case strings.ContainsRune(rel, 0):
			t.Fatalf("Clean(%q) = %q holds a NUL byte", p, rel)
		case strings.ContainsRune(rel, '\\'):
			t.Fatalf("Clean(%q) = %q holds a backslash", p, rel)
		case len(rel) > MaxPathLength:
			t.Fatalf("Clean(%q) = %d bytes, longer than %d", p, len(rel), MaxPathLength)
		case rel != p && "/"+rel != p:
			t.Fatalf("Clean(%q) = %q, want the input less at most one leading slash", p, rel)
		}
		for seg := range strings.SplitSeq(rel, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("Clean(%q) = %q holds the segment %q", p, rel, seg)
			}
		}
		if again, err := Clean(rel); err != nil || again != rel {
			t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q, nil", p, again, err, rel)
		}
	})
}

// FuzzGlob runs fuzzed patterns over the test tree of root_test.go, with
// small limits: Glob must not panic, and what it returns must be sorted,
// unique, within the limit, clean, and regular files inside the root.
func FuzzGlob(f *testing.F) {
	for _, s := range []string{
		"yum/el9/x86_64/*.rpm",
		"yum/*/x86_64/*.rpm",
		"yum/.*/x86_64/*",
		"yum/iso/boot[0-9].iso",
		"yum/iso/boot{1,X}*",
		"yum/out-link/*",
		"yum/special/*",
		"*/*/*/*",
		"yum/iso/boot[.iso",
		"yum/el9/x86_64/escape.rpm",
		"[!a]*/?",
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	resolvedRoot, err := filepath.EvalSymlinks(fx.dir)
	if err != nil {
		f.Fatal(err)
	}
	lim := Limits{MaxMatches: 4, MaxVisits: 60}
	f.Fuzz(func(t *testing.T, pattern string) {
		pattern, err := Clean(pattern)
		if err != nil {
			return
		}
		got, err := fx.root.Glob(pattern, lim)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrOutside) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrTooMany) {
				t.Fatalf("Glob(%q) error = %v, want one of the package's sentinels", pattern, err)
			}
			if got != nil {
				t.Fatalf("Glob(%q) = %q with error %v, want nil", pattern, got, err)
			}
			return
		}
		if len(got) > lim.MaxMatches {
			t.Fatalf("Glob(%q) = %d matches, want at most %d", pattern, len(got), lim.MaxMatches)
		}
		for i, m := range got {
			if i > 0 && got[i-1] >= m {
				t.Fatalf("Glob(%q) = %q: not sorted bytewise without duplicates", pattern, got)
			}
			if c, err := Clean(m); err != nil || c != m {
				t.Fatalf("Glob(%q) match %q is not a clean path: %v", pattern, m, err)
			}
			real, err := filepath.EvalSymlinks(filepath.Join(fx.dir, filepath.FromSlash(m)))
			if err != nil {
				t.Fatalf("Glob(%q) match %q does not resolve: %v", pattern, m, err)
			}
			if !strings.HasPrefix(real, resolvedRoot+string(filepath.Separator)) {
				t.Fatalf("Glob(%q) match %q resolves to %s, outside the root %s", pattern, m, real, resolvedRoot)
			}
			fi, err := os.Stat(real)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("Glob(%q) match %q is not a regular file (%v)", pattern, m, err)
			}
		}
	})
}
