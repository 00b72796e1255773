package agent

import (
	"bytes"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestStoreFull: a store too small for the package still gives the
// client every byte, from the mirror, and the space is given back.
func TestStoreFull(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"big-1-1.noarch.rpm", 3<<20+5)
	m := startMirror(t, root)
	store := e2e.MountTmpfs(t, "1m")
	a := startAgent(t, store, []string{m.base})

	for i := range 2 {
		resp, got := get(t, a.url(m.base+"/"+pkgDir+"big-1-1.noarch.rpm"))
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("request %d: status %d, %d bytes; want 200 and the mirror's %d", i, resp.StatusCode, len(got), len(want))
		}
	}
	st := a.swarm.Status().Totals
	if st.FromFallback == 0 {
		t.Errorf("totals %+v: want bytes streamed from the mirror past the full store", st)
	}
	// The janitor gives the partial file's space back.
	a.swarm.tidy(time.Now())
	var fs syscall.Statfs_t
	if err := syscall.Statfs(store, &fs); err != nil {
		t.Fatal(err)
	}
	if used := (fs.Blocks - fs.Bfree) * uint64(fs.Bsize); used > 64<<10 {
		t.Errorf("store uses %d bytes after the janitor ran, want its partial file removed", used)
	}
}
