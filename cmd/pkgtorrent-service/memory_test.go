package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestLargePiecesMemoryBinary runs the real binary, built as it ships
// (without -race, whose shadow memory would count in the RSS), with
// -format hybrid -piece-length 64MiB, and has 50 clients ask at once for
// the torrents of 20 cold files of 200 MiB: every answer is right, and the
// process's peak RSS (its rusage) stays under 128 MiB. Before the bound
// on piece buffers, every file's workers each held a whole 64 MiB piece:
// 2.6 GB (issue 11).
func TestLargePiecesMemoryBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 4 GiB")
	}
	bin := filepath.Join(t.TempDir(), "pkgtorrent-service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root, cache, trackers := mirror(t)
	const files, clients = 20, 50
	dir := filepath.Join(root, "yum", "big")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		// Sparse: the page cache holds no data for them, so the RSS is
		// the service's own memory.
		f := filepath.Join(dir, fmt.Sprintf("f%02d.iso", i))
		if err := os.WriteFile(f, []byte(fmt.Sprintf("file %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, 200<<20); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, "service", bin, nil, "-root", root, "-cache", cache, "-trackers", trackers,
		"-format", "hybrid", "-piece-length", "64MiB", "-lock-timeout", "10m")
	bodies := make([][]byte, clients)
	c := client()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			res, err := c.Get(fmt.Sprintf("%s/yum/torrent_service/single/yum/big/f%02d.iso", s.url, i%files))
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 {
				t.Errorf("client %d: %d %.200s", i, res.StatusCode, b)
			}
			bodies[i] = b
		})
	}
	wg.Wait()
	// The peak of the service's own memory: VmHWM of its address space,
	// read before it stops. Not the rusage's Maxrss: Go starts children
	// with clone(CLONE_VM), so the child's Maxrss also holds the test
	// process's RSS at the fork (a -race test binary that grows with
	// every test before this one: 134 MiB in a full run, 60 MiB alone).
	rss := e2e.PeakRSS(t, s.Cmd.Process.Pid)
	s.stop()
	if t.Failed() {
		t.FailNow()
	}
	for i := files; i < clients; i++ {
		if !bytes.Equal(bodies[i], bodies[i%files]) {
			t.Errorf("clients %d and %d got different torrents of f%02d.iso", i, i%files, i%files)
		}
	}
	checkPieces(t, root, bodies[0])
	checkPieces(t, root, bodies[files-1])
	if rss >= 128<<20 {
		t.Errorf("peak RSS %d MiB, want under 128 MiB", rss>>20)
	}
	t.Logf("peak RSS %d MiB", rss>>20)
}
