package infocache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBoundEvictsLeastRecentlyUsed fills a folder past its bound with
// entries of known ages and checks which ones a write removes: the least
// recently used by mtime, atime or a serve of this process, down to seven
// eighths of the bound, with their lock files; never the entry just
// written, an entry served, or files that are not entries.
func TestBoundEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	const size = 64 << 10
	now := time.Now()
	key := func(i int) string { return fmt.Sprintf("%040x", i) }
	write := func(name string, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".lock", nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	// Entries 0..9, entry i i hours old; entry 3 used (atime) a minute
	// ago; entry 1 served by this process a second ago.
	for i := range 10 {
		write(key(i), time.Duration(i)*time.Hour)
	}
	os.Chtimes(filepath.Join(dir, key(3)), now.Add(-time.Minute), now.Add(-3*time.Hour))
	temp := filepath.Join(dir, ".tmp-"+key(20)+"-1")
	os.WriteFile(temp, []byte("x"), 0o644)
	b := &Bound{Dir: dir, Limit: 8 * size}
	b.Served(key(1), now.Add(-time.Second))
	// The new entry, older than all by its times: kept because it was
	// just written.
	write(key(10), 100*time.Hour)
	removed, err := b.Wrote(key(10))
	if err != nil {
		t.Fatal(err)
	}
	// 11 entries of 64 KiB and a temporary file: down to 7 of 8 slots
	// (448 KiB), so the five least recent go: 9, 8, 7, 6, 5.
	gone := map[int]bool{9: true, 8: true, 7: true, 6: true, 5: true}
	for i := range 11 {
		_, err := os.Stat(filepath.Join(dir, key(i)))
		_, lerr := os.Stat(filepath.Join(dir, key(i)+".lock"))
		if gone[i] != os.IsNotExist(err) || gone[i] != os.IsNotExist(lerr) {
			t.Errorf("entry %d: removed %v, lock removed %v; want %v", i, os.IsNotExist(err), os.IsNotExist(lerr), gone[i])
		}
	}
	if removed != len(gone) || b.Evicted() != int64(len(gone)) {
		t.Errorf("Wrote removed %d (Evicted %d), want %d", removed, b.Evicted(), len(gone))
	}
	if _, err := os.Stat(temp); err != nil {
		t.Errorf("a temporary file was removed: %v", err)
	}
	// Under the bound, a write removes nothing.
	write(key(11), 0)
	if removed, _ := b.Wrote(key(11)); removed != 0 {
		t.Errorf("under the bound, a write removed %d entries", removed)
	}
}
