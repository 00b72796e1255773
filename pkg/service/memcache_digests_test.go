package service

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// TestMemoNewCombination: a new combination of files this process hashed
// takes their digests from memory, with the piece cache gone, and the
// torrent's pieces are those of the files; a file changed since is hashed
// again, its old digests never used.
func TestMemoNewCombination(t *testing.T) {
	f := newFixture(t, nil)
	if w := f.post(somePackages...); w.Code != http.StatusOK {
		t.Fatalf("POST: status %d: %s", w.Code, w.Body)
	}
	if err := os.RemoveAll(filepath.Join(f.cache, "pieces")); err != nil {
		t.Fatal(err)
	}
	hashedBefore := f.svc.Stats.FilesHashed.Load()
	subset := somePackages[:3]
	w := f.post(subset...)
	if w.Code != http.StatusOK {
		t.Fatalf("POST of a new combination: status %d: %s", w.Code, w.Body)
	}
	verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
	if n := f.svc.Stats.FilesHashed.Load() - hashedBefore; n != 0 {
		t.Errorf("a new combination of known files hashed %d files, want 0", n)
	}
	if n := f.svc.Stats.MemoHits.Load(); n != int64(len(subset)) {
		t.Errorf("%d digests from memory, want %d", n, len(subset))
	}

	// Change one file in place, with the same size: a new mtime is a new
	// version, hashed again.
	name := filepath.Join(f.root, filepath.FromSlash(subset[0]))
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(name, later, later); err != nil {
		t.Fatal(err)
	}
	hits := f.svc.Stats.MemoHits.Load()
	w = f.post(subset[:2]...)
	if w.Code != http.StatusOK {
		t.Fatalf("POST after a change: status %d: %s", w.Code, w.Body)
	}
	verifyPieces(t, f.root, "torrent_service", decodeTorrent(t, w.Body.Bytes()))
	if n := f.svc.Stats.FilesHashed.Load() - hashedBefore; n != 1 {
		t.Errorf("after changing one file, %d files hashed, want 1", n)
	}
	if n := f.svc.Stats.MemoHits.Load() - hits; n != 1 {
		t.Errorf("after changing one file, %d digests from memory, want 1 (the unchanged one)", n)
	}
}

// TestMemoBudget: the memo stays within its budget, and what it returns
// is always what was put for that key and stamp.
func TestMemoBudget(t *testing.T) {
	c := digestMemo{budget: 64 << 10}
	digests := func(i int) *pieces.Digests {
		return &pieces.Digests{PieceLength: pieces.MinLength, Size: int64(i), Padded: bytes.Repeat([]byte{byte(i)}, 20*(1+i%50))}
	}
	st := func(i int) piececache.Stamp { return piececache.Stamp{Size: int64(i), Ino: uint64(i)} }
	for i := range 2000 {
		c.put(fmt.Sprint(i), st(i), digests(i), false, time.Time{})
		if c.size > c.budget {
			t.Fatalf("after %d entries: %d bytes, budget %d", i+1, c.size, c.budget)
		}
	}
	var kept int
	for i := range 2000 {
		d, ok := c.get(fmt.Sprint(i), st(i), false)
		if !ok {
			continue
		}
		kept++
		if d.Size != int64(i) || !bytes.Equal(d.Padded, digests(i).Padded) {
			t.Fatalf("entry %d: other digests", i)
		}
		if _, ok := c.get(fmt.Sprint(i), st(i+1), false); ok {
			t.Fatalf("entry %d returned for another file version", i)
		}
		if _, ok := c.get(fmt.Sprint(i), st(i), true); ok {
			t.Fatalf("entry %d without a v2 layer returned for a hybrid torrent", i)
		}
	}
	var sum int64
	for k, e := range c.m {
		sum += memoSize(k, e.d)
	}
	if kept == 0 || kept == 2000 || sum != c.size {
		t.Errorf("kept %d of 2000 entries, %d bytes counted as %d", kept, sum, c.size)
	}
}
