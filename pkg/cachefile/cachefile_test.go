package cachefile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// leftovers returns the names in dir other than want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	var extra []string
	for _, e := range ents {
		found := false
		for _, w := range want {
			found = found || e.Name() == w
		}
		if !found {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

func TestWriteAtomic(t *testing.T) {
	tests := []struct {
		name string
		rel  string
		old  []byte // written first when not nil
		data []byte
	}{
		{"new file in existing folder", "f", nil, []byte("hello")},
		{"creates missing folders", "a/b/c/f", nil, []byte("deep")},
		{"replaces old content", "f", []byte("old content that is longer"), []byte("new")},
		{"empty content", "f", []byte("old"), []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, filepath.FromSlash(tt.rel))
			if tt.old != nil {
				if err := WriteAtomic(name, tt.old); err != nil {
					t.Fatalf("WriteAtomic(old): %v", err)
				}
			}
			if err := WriteAtomic(name, tt.data); err != nil {
				t.Fatalf("WriteAtomic: %v", err)
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("content = %q, want %q", got, tt.data)
			}
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if perm := fi.Mode().Perm(); perm != 0o644 {
				t.Errorf("mode = %v, want %v", perm, os.FileMode(0o644))
			}
			if extra := leftovers(t, filepath.Dir(name), filepath.Base(name)); len(extra) > 0 {
				t.Errorf("folder holds %q besides %s, want nothing else", extra, filepath.Base(name))
			}
		})
	}
}

func TestWriteAtomicErrors(t *testing.T) {
	t.Run("parent is a file", func(t *testing.T) {
		dir := t.TempDir()
		blocker := filepath.Join(dir, "blocker")
		if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := WriteAtomic(filepath.Join(blocker, "f"), []byte("data"))
		if err == nil {
			t.Fatalf("WriteAtomic under a regular file: error = nil, want one")
		}
		if !strings.HasPrefix(err.Error(), "cache write") {
			t.Errorf("error = %q, want it to start with %q", err, "cache write")
		}
	})
	t.Run("target is a folder", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "target")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(target, "keep"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteAtomic(target, []byte("data")); err == nil {
			t.Fatalf("WriteAtomic over a non-empty folder: error = nil, want one")
		}
		if extra := leftovers(t, dir, "target"); len(extra) > 0 {
			t.Errorf("failed write left %q behind, want no temporary files", extra)
		}
	})
}

// TestWriteAtomicConcurrentReaders checks that readers running during many
// writes only ever see one complete version.
func TestWriteAtomicConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "entry")
	versions := [][]byte{
		bytes.Repeat([]byte("A"), 64<<10),
		bytes.Repeat([]byte("B"), 3),
		bytes.Repeat([]byte("C"), 200<<10),
	}
	if err := WriteAtomic(name, versions[0]); err != nil {
		t.Fatal(err)
	}
	const writes = 200
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := os.ReadFile(name)
				ok := err == nil && slicesContain(versions, got)
				if !ok {
					mu.Lock()
					if len(bad) < 5 {
						bad = append(bad, describe(got, err))
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range writes {
		if err := WriteAtomic(name, versions[i%len(versions)]); err != nil {
			t.Errorf("WriteAtomic #%d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	for _, b := range bad {
		t.Errorf("reader saw %s, want one complete version", b)
	}
	if extra := leftovers(t, dir, "entry"); len(extra) > 0 {
		t.Errorf("folder holds %q besides entry, want no temporary files", extra)
	}
}

func slicesContain(versions [][]byte, b []byte) bool {
	for _, v := range versions {
		if bytes.Equal(v, b) {
			return true
		}
	}
	return false
}

func describe(b []byte, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("error %v", err)
	case len(b) == 0:
		return "an empty file"
	}
	return fmt.Sprintf("%q... of %d bytes", b[:1], len(b))
}
