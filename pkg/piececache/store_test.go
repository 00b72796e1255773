package piececache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

const rel = "yum/el9/x86_64/Packages/bash-5.1.8-9.el9.x86_64.rpm"

func TestStorePath(t *testing.T) {
	s := Store{Dir: "/var/cache/torrent_service/pieces"}
	want := "/var/cache/torrent_service/pieces/yum/el9/x86_64/Packages/bash-5.1.8-9.el9.x86_64.rpm/1048576"
	if got := s.Path(rel, 1<<20); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

func TestStoreSaveLoad(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, size := range []int64{0, 1, 16 << 10, 40 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st, d, _ := validEntry(size, 16<<10)
			name := fmt.Sprintf("top/f%d", size)
			if err := s.Save(name, st, d); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := s.Load(name, st, 16<<10, false)
			if err != nil {
				t.Fatalf("Load error = %v, want nil", err)
			}
			if !sameDigests(got, d) {
				t.Errorf("Load = %+v, want %+v", got, d)
			}
		})
	}
}

func TestStoreLoadMiss(t *testing.T) {
	const pl = 16 << 10
	st, d, entry := validEntry(40<<10, pl)
	tests := []struct {
		name    string
		prepare func(t *testing.T, s Store) // writes the cache folder
		stamp   Stamp
		pl      int64
		want    error
	}{
		{"missing entry", func(*testing.T, Store) {}, st, pl, fs.ErrNotExist},
		{"missing for another piece length", save(st, d), st, 2 * pl, fs.ErrNotExist},
		{"random bytes", write(pl, []byte("not a cache entry, just some text in its place")), st, pl, ErrCorrupt},
		{"empty file", write(pl, nil), st, pl, ErrCorrupt},
		{"truncated", write(pl, entry[:len(entry)-1]), st, pl, ErrCorrupt},
		{"size changed", save(st, d), Stamp{Size: st.Size + 1, MtimeNs: st.MtimeNs, Dev: st.Dev, Ino: st.Ino}, pl, ErrStale},
		{"mtime changed", save(st, d), Stamp{Size: st.Size, MtimeNs: st.MtimeNs + 1, Dev: st.Dev, Ino: st.Ino}, pl, ErrStale},
		{"inode changed", save(st, d), Stamp{Size: st.Size, MtimeNs: st.MtimeNs, Dev: st.Dev, Ino: st.Ino + 1}, pl, ErrStale},
		{"device changed", save(st, d), Stamp{Size: st.Size, MtimeNs: st.MtimeNs, Dev: st.Dev + 1, Ino: st.Ino}, pl, ErrStale},
		// An entry of another piece length found under this piece
		// length's name (copied there by hand, or a bug) is not trusted.
		{"entry of another piece length", write(2*pl, entry), st, 2 * pl, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Store{Dir: t.TempDir()}
			tt.prepare(t, s)
			got, err := s.Load(rel, tt.stamp, tt.pl, false)
			if !errors.Is(err, tt.want) {
				t.Errorf("Load error = %v, want %v", err, tt.want)
			}
			if !IsMiss(err) {
				t.Errorf("IsMiss(%v) = false, want true", err)
			}
			if got != nil {
				t.Errorf("Load digests = %+v, want nil", got)
			}
		})
	}
}

func save(st Stamp, d *pieces.Digests) func(*testing.T, Store) {
	return func(t *testing.T, s Store) {
		t.Helper()
		if err := s.Save(rel, st, d); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
}

func write(pl int64, b []byte) func(*testing.T, Store) {
	return func(t *testing.T, s Store) {
		t.Helper()
		name := s.Path(rel, pl)
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreLoadNotMiss checks that an unusable cache is not mistaken for
// a missing entry.
func TestStoreLoadNotMiss(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	st, _, _ := validEntry(1, 16<<10)
	// A folder where the entry should be: reading it fails with EISDIR.
	if err := os.MkdirAll(s.Path(rel, 16<<10), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(rel, st, 16<<10, false)
	if err == nil || IsMiss(err) {
		t.Errorf("Load of a folder: error = %v, IsMiss = %v; want an error that is not a miss", err, IsMiss(err))
	}
}

func TestIsMiss(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not exist", fmt.Errorf("x: %w", fs.ErrNotExist), true},
		{"corrupt", fmt.Errorf("x: %w", ErrCorrupt), true},
		{"stale", fmt.Errorf("x: %w", ErrStale), true},
		{"permission", fmt.Errorf("x: %w", fs.ErrPermission), false},
		{"other", errors.New("disk on fire"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsMiss(tt.err); got != tt.want {
				t.Errorf("IsMiss(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestStoreSaveAtomic saves two versions of an entry in turn while readers
// load it: a reader sees one version or the other in full (stale for the
// other stamp), never a corrupt or missing entry, and no temporary file is
// left behind.
func TestStoreSaveAtomic(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	const pl = 16 << 10
	stA, dA, _ := validEntry(2000*pl, pl)   // 40 KB of digests
	stB, dB, _ := validEntry(2000*pl-1, pl) // another size, another stamp
	if err := s.Save(rel, stA, dA); err != nil {
		t.Fatal(err)
	}
	const saves = 200
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
				d, err := s.Load(rel, stA, pl, false)
				var problem string
				switch {
				case err == nil && !sameDigests(d, dA):
					problem = "digests of neither version"
				case err != nil && !errors.Is(err, ErrStale):
					problem = err.Error()
				}
				if problem != "" {
					mu.Lock()
					if len(bad) < 5 {
						bad = append(bad, problem)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range saves {
		st, d := stA, dA
		if i%2 == 0 {
			st, d = stB, dB
		}
		if err := s.Save(rel, st, d); err != nil {
			t.Errorf("Save #%d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	for _, b := range bad {
		t.Errorf("concurrent Load: %s, want the entry or ErrStale", b)
	}
	ents, err := os.ReadDir(filepath.Dir(s.Path(rel, pl)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := fmt.Sprint(pl); len(names) != 1 || names[0] != want {
		t.Errorf("entry folder holds %s, want only %s", strings.Join(names, ", "), want)
	}
}
