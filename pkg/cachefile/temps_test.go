package cachefile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a", "b", "entry")
	if err := WriteAtomic(name, []byte("one")); err != nil {
		t.Fatalf("write into a missing folder: %v", err)
	}
	if err := WriteAtomic(name, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(name); string(b) != "two" {
		t.Errorf("content %q, want two", b)
	}
	if names := list(t, filepath.Dir(name)); !slices.Equal(names, []string{"entry"}) {
		t.Errorf("folder holds %q, want only the entry", names)
	}
	// A write that cannot complete leaves nothing behind: here the
	// target is a folder, so the rename fails.
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "x"), nil, 0o644)
	if err := WriteAtomic(filepath.Join(dir, "d"), []byte("x")); err == nil {
		t.Fatal("write over a non-empty folder succeeded")
	}
	if names := list(t, dir); !slices.Equal(names, []string{"a", "d"}) {
		t.Errorf("after a failed write the folder holds %q, want no temporary file", names)
	}
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "1048576")
	other := filepath.Join(dir, "[x]*")
	for _, n := range []string{".tmp-1048576-123", ".tmp-1048576-456", ".tmp-[x]*-1", ".tmp-10485760-1", "1048576"} {
		os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644)
	}
	if n, err := RemoveTemps(name); err != nil || n != 2 {
		t.Errorf("RemoveTemps = %d, %v; want 2", n, err)
	}
	if n, err := RemoveTemps(other); err != nil || n != 1 {
		t.Errorf("RemoveTemps of a name with glob characters = %d, %v; want 1", n, err)
	}
	if n, err := RemoveTemps(filepath.Join(dir, "missing", "x")); n != 0 || err == nil {
		t.Errorf("RemoveTemps in a missing folder = %d, %v; want an error", n, err)
	}
	if names := list(t, dir); !slices.Equal(names, []string{".tmp-10485760-1", "1048576"}) {
		t.Errorf("left %q, want the entry and the other entry's temporary file", names)
	}
	if b, _ := os.ReadFile(name); !bytes.Equal(b, []byte("partial")) {
		t.Errorf("the entry itself was touched")
	}
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
