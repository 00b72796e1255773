package docroot

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// openDescriptors counts this process's open descriptors.
func openDescriptors(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// manyFolders makes n folders under dir/many, each holding f.rpm of i+1
// bytes, and returns their files' relative paths.
func manyFolders(t *testing.T, dir string, n int) []string {
	t.Helper()
	paths := make([]string, n)
	for i := range n {
		rel := fmt.Sprintf("many/d%05d/f.rpm", i)
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), make([]byte, i+1), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[i] = rel
	}
	return paths
}

// TestLookupBoundsOpenFolders looks up files in more folders than a Lookup
// may hold open, from several goroutines at once, as a request does: every
// answer is right (the size each file was written with), and the Lookup
// never holds more than MaxOpenDirs folders open. Before the bound, it held
// one descriptor per folder until Close (issue 11: a glob over 10 000
// folders, six such requests, 19 492 descriptors and 500s).
func TestLookupBoundsOpenFolders(t *testing.T) {
	dir := t.TempDir()
	const n = 500
	paths := manyFolders(t, dir, n)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := openDescriptors(t)
	look := r.Lookup()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				fi, err := look.Stat(paths[i])
				if err == nil && fi.Size() != int64(i+1) {
					err = fmt.Errorf("Stat(%s).Size() = %d, want %d", paths[i], fi.Size(), i+1)
				}
				if i%3 == 0 && err == nil {
					f, fi, oerr := look.OpenFile(paths[i])
					if oerr != nil {
						err = oerr
					} else {
						if fi.Size() != int64(i+1) {
							err = fmt.Errorf("OpenFile(%s) size %d, want %d", paths[i], fi.Size(), i+1)
						}
						f.Close()
					}
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if held := openDescriptors(t) - before; held > MaxOpenDirs {
		t.Errorf("after looking up files in %d folders, the Lookup holds %d descriptors, want at most %d", n, held, MaxOpenDirs)
	}
	look.Close()
	if left := openDescriptors(t) - before; left > 0 {
		t.Errorf("%d descriptors left open after Close", left)
	}
}

// TestLookupBoundsOpenFoldersInAll holds many Lookups open at once, as
// concurrent requests do: together they hold at most MaxOpenDirsInAll
// folders, and still answer right.
func TestLookupBoundsOpenFoldersInAll(t *testing.T) {
	dir := t.TempDir()
	const per = MaxOpenDirs
	lookups := MaxOpenDirsInAll/per + 4
	paths := manyFolders(t, dir, per*lookups)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := openDescriptors(t)
	var looks []*Lookup
	for k := range lookups {
		look := r.Lookup()
		looks = append(looks, look)
		for i := k * per; i < (k+1)*per; i++ {
			fi, err := look.Stat(paths[i])
			if err != nil || fi.Size() != int64(i+1) {
				t.Fatalf("Stat(%s) = %v, %v; want size %d", paths[i], fi, err, i+1)
			}
		}
	}
	if held := openDescriptors(t) - before; held > MaxOpenDirsInAll {
		t.Errorf("%d Lookups over %d folders each hold %d descriptors, want at most %d", lookups, per, held, MaxOpenDirsInAll)
	}
	for _, look := range looks {
		look.Close()
	}
	if got := dirsInAll.Load(); got != 0 {
		t.Errorf("after every Close, %d folders still counted open", got)
	}
}
