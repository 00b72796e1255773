package accesslist

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func hashOf(i int) Hash { return sha1.Sum([]byte(fmt.Sprint(i))) }

func hexOf(h Hash) string { return hex.EncodeToString(h[:]) }

// fileLines reads the file as opentracker would: its lines.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func TestAllow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracker", "whitelist")
	l := New(path, 100)
	a, b := hashOf(1), hashOf(2)
	if changed, err := l.Allow(a, b); err != nil || !changed {
		t.Fatalf("first Allow: changed %v, %v", changed, err)
	}
	want := []string{hexOf(a), hexOf(b)}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if got := fileLines(t, path); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("file = %q, want %q (sorted, one a line)", got, want)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, want 0644 (the tracker runs as another user)", fi.Mode().Perm())
	}
	if changed, err := l.Allow(b); err != nil || changed {
		t.Errorf("Allow of a listed hash: changed %v, %v", changed, err)
	}
	// The file stays the same file (no rewrite) when nothing changes.
	fi2, _ := os.Stat(path)
	if inode(fi) != inode(fi2) {
		t.Error("a hash already listed rewrote the file")
	}
}

// TestAllowProcesses runs several lists on one file at once, as the
// processes of mod_fcgid do: none loses another's hashes.
func TestAllowProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whitelist")
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			l := New(path, 1000)
			for i := range 25 {
				if _, err := l.Allow(hashOf(p*100 + i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := map[string]bool{}
	for _, h := range fileLines(t, path) {
		got[h] = true
	}
	for p := range 4 {
		for i := range 25 {
			if !got[hexOf(hashOf(p*100+i))] {
				t.Errorf("hash %d of process %d lost", i, p)
			}
		}
	}
	if len(got) != 100 {
		t.Errorf("%d hashes on the list, want 100", len(got))
	}
}

func TestAllowFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whitelist")
	l := New(path, 3)
	if _, err := l.Allow(hashOf(1), hashOf(2)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if _, err := l.Allow(hashOf(3), hashOf(4)); !errors.Is(err, ErrFull) {
		t.Errorf("Allow past max: %v, want ErrFull", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a refused Allow changed the file: %q, was %q", after, before)
	}
	if changed, err := l.Allow(hashOf(3)); err != nil || !changed {
		t.Errorf("Allow up to max: changed %v, %v", changed, err)
	}
}

// TestPruneThenAllow: gc prunes the list from another process; a process
// that had the hash listed adds it again once it sees the file changed.
func TestPruneThenAllow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whitelist")
	now := time.Now()
	l := New(path, 100)
	l.now = func() time.Time { return now }
	a, b := hashOf(1), hashOf(2)
	if _, err := l.Allow(a, b); err != nil {
		t.Fatal(err)
	}
	gc := New(path, 100)
	removed, err := gc.Prune(func(h Hash) bool { return h == b })
	if err != nil || removed != 1 {
		t.Fatalf("Prune: removed %d, %v; want 1", removed, err)
	}
	if got := fileLines(t, path); len(got) != 1 || got[0] != hexOf(b) {
		t.Fatalf("after Prune the file holds %q, want only %s", got, hexOf(b))
	}
	// Within Revalidate the process trusts what it read.
	if changed, _ := l.Allow(a); changed {
		t.Error("the file was checked again before Revalidate")
	}
	now = now.Add(Revalidate)
	if changed, err := l.Allow(a); err != nil || !changed {
		t.Errorf("after Revalidate, Allow of the pruned hash: changed %v, %v; want it added again", changed, err)
	}
	if got, err := l.Hashes(); err != nil || len(got) != 2 {
		t.Errorf("Hashes = %d, %v; want 2", len(got), err)
	}
}

// TestReadSkips: comments, blank lines and garbage are skipped; hashes in
// upper case and with trailing text (a comment) are read.
func TestReadSkips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whitelist")
	a, b := hashOf(1), hashOf(2)
	text := "# a comment\n\n" + strings.ToUpper(hexOf(a)) + "\nnot a hash\n" + hexOf(b) + " boot.iso\n1234\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := New(path, 10).Hashes()
	if err != nil || len(got) != 2 {
		t.Fatalf("Hashes = %x, %v; want the 2 hashes", got, err)
	}
}
