package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHeldFiles: the engine keeps the files of its torrents open between
// reads and writes (third_party/torrent/PATCHED.md, change 7), at most 64
// of them whatever the number of torrents; an evicted torrent's file is
// not held (its space is freed at once), and the same file fetched again
// is written into the new file of the store, not into the deleted one.
func TestHeldFiles(t *testing.T) {
	const n, held = 70, 64
	root := t.TempDir()
	want := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("p%02d-1-1.noarch.rpm", i)
		want[name] = writeRandom(t, root, pkgDir+name, 40<<10)
	}
	m := startMirror(t, root)
	store := t.TempDir()
	a := startAgent(t, store, []string{m.base})
	for name, b := range want {
		getWhole(t, name, a.url(m.base+"/"+pkgDir+name), b)
	}
	if got := heldDataFiles(t, store); len(got) == 0 || len(got) > held {
		t.Errorf("after %d downloads the engine holds %d files of the store open, want 1 to %d", n, len(got), held)
	}

	sw := a.swarm
	sw.mu.Lock()
	sw.cfg.StoreSize = 0 // every finished file goes
	sw.mu.Unlock()
	// The last requests' ends and fills' completions may come just
	// after their answers: the janitor's round is tried until they did.
	waitFor(t, "every torrent evicted", func() bool {
		sw.tidy(time.Now())
		return sw.Status().Totals.Evicted == int64(len(want))
	})
	if got := heldDataFiles(t, store); len(got) != 0 {
		t.Errorf("after every torrent was evicted the engine holds %d files open: %q", len(got), got)
	}

	name := "p00-1-1.noarch.rpm"
	getWhole(t, name, a.url(m.base+"/"+pkgDir+name), want[name])
	paths, _ := filepath.Glob(filepath.Join(store, "data", "*", name))
	if len(paths) != 1 {
		t.Fatalf("the store holds %q for %s, want one file", paths, name)
	}
	if b, err := os.ReadFile(paths[0]); err != nil || !bytes.Equal(b, want[name]) {
		t.Errorf("%s fetched again after its eviction: the store's file has %d bytes (%v), not the mirror's", name, len(b), err)
	}
}

// heldDataFiles lists the files under the store's data folder that this
// process holds open.
func heldDataFiles(t *testing.T, store string) []string {
	t.Helper()
	data := filepath.Join(store, "data") + "/"
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, fd := range fds {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(p, data) {
			held = append(held, p)
		}
	}
	return held
}
