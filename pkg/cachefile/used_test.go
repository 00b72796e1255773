package cachefile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func stat(t *testing.T, name string) (used, modified time.Time) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return LastUsed(fi), fi.ModTime()
}

func TestMarkUsed(t *testing.T) {
	name := filepath.Join(t.TempDir(), "entry")
	if err := WriteAtomic(name, []byte("entry")); err != nil {
		t.Fatal(err)
	}
	checked := time.Unix(1700000000, 0)
	longAgo := time.Unix(1600000000, 0)
	if err := os.Chtimes(name, longAgo, checked); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700100000, 0)
	for _, tc := range []struct {
		name  string
		now   time.Time
		wrote bool
		used  time.Time
	}{
		{"old mark", now, true, now},
		{"less than a day later", now.Add(23 * time.Hour), false, now},
		{"a day later", now.Add(24 * time.Hour), true, now.Add(24 * time.Hour)},
	} {
		wrote, err := MarkUsed(name, tc.now)
		if err != nil || wrote != tc.wrote {
			t.Errorf("%s: MarkUsed = %v, %v; want %v", tc.name, wrote, err, tc.wrote)
		}
		used, modified := stat(t, name)
		if !used.Equal(tc.used) || !modified.Equal(checked) {
			t.Errorf("%s: atime %v, mtime %v; want %v and the mtime kept at %v", tc.name, used, modified, tc.used, checked)
		}
	}
	if _, err := MarkUsed(name+".missing", now); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing entry: %v, want fs.ErrNotExist", err)
	}
}

func TestReadQuietlyKeepsAtime(t *testing.T) {
	name := filepath.Join(t.TempDir(), "entry")
	if err := os.WriteFile(name, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An atime older than a day and older than the mtime: a plain read
	// on a relatime mount would move it to now.
	old, checked := time.Unix(1600000000, 0), time.Unix(1650000000, 0)
	if err := os.Chtimes(name, old, checked); err != nil {
		t.Fatal(err)
	}
	b, fi, err := ReadQuietly(name, 100)
	if err != nil || string(b) != "content" || !LastUsed(fi).Equal(old) {
		t.Fatalf("ReadQuietly = %q, %v (atime %v); want the content and atime %v", b, err, LastUsed(fi), old)
	}
	// The file is ours, so O_NOATIME is allowed.
	if used, _ := stat(t, name); !used.Equal(old) {
		t.Errorf("atime after a quiet read: %v, want %v", used, old)
	}
	if _, _, err := ReadQuietly(name, 3); !errors.Is(err, ErrTooLarge) {
		t.Errorf("7 bytes with a limit of 3: %v, want ErrTooLarge", err)
	}
}

// TestReadUsed: the content, the access time the file records, the size
// bound, and a missing file's error.
func TestReadUsed(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "entry")
	for _, size := range []int{0, 1, 4095, 4096, 70000} {
		want := bytes.Repeat([]byte{'x'}, size)
		if err := os.WriteFile(name, want, 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := os.Chtimes(name, when, time.Time{}); err != nil {
			t.Fatal(err)
		}
		got, used, err := ReadUsed(name, 70000)
		if err != nil || !bytes.Equal(got, want) || !used.Equal(when) {
			t.Errorf("%d bytes: got %d bytes, used %v, %v; want the file and %v", size, len(got), used, err, when)
		}
	}
	if _, _, err := ReadUsed(name, 69999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the bound: %v, want ErrTooLarge", err)
	}
	if _, _, err := ReadUsed(filepath.Join(dir, "missing"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
