package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// writeFiles writes n files of small, varied sizes (the first one empty)
// under root/dir and returns their URL paths, sorted.
func writeFiles(t *testing.T, root, dir string, n int) []string {
	t.Helper()
	os.MkdirAll(filepath.Join(root, dir), 0o755)
	paths := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("%s/pkg-%03d.rpm", dir, i)
		size := i * 7919 % 65536
		b := bytes.Repeat([]byte(name), size/len(name)+1)[:size]
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[i] = "/" + name
	}
	return paths
}

// TestStressProcesses starts 4 service processes over one cache, as
// mod_fcgid would, and sends 50 concurrent yum-torrent exchanges to each
// for the same new 200-file digest, then 50 more to each spread over five
// new digests that share files. Every file must be hashed exactly once
// in all (counted from the processes' `msg="file hashed"` debug lines),
// every digest's torrent built once, all answers 200 and identical per
// digest, with the right pieces.
func TestStressProcesses(t *testing.T) {
	const procs, perProc = 4, 50
	dir := t.TempDir()
	root, cache, trackers := filepath.Join(dir, "www"), filepath.Join(dir, "cache"), filepath.Join(dir, "trackers")
	os.WriteFile(trackers, []byte("udp://127.0.0.1:1/announce\n"), 0o644)
	burst := writeFiles(t, root, "yum/burst", 200)
	shared := writeFiles(t, root, "yum/shared", 100)

	servers := make([]*server, procs)
	for i := range servers {
		// A long lock-timeout: on a loaded machine the test must not fail
		// for slowness; what it checks is that nothing is done twice.
		servers[i] = startServer(t, fmt.Sprintf("process %d", i), serviceBinary(t), nil,
			"-root", root, "-cache", cache, "-trackers", trackers, "-log-level", "debug", "-lock-timeout", "5m")
	}
	c := client()

	// run sends perProc exchanges to every process at once; exchange i
	// asks for sets[i % len(sets)]. It returns the bodies per set.
	run := func(sets [][]string) [][][]byte {
		bodies := make([][][]byte, len(sets))
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for p, s := range servers {
			for i := range perProc {
				set := i % len(sets)
				wg.Go(func() {
					<-start
					status, body, err := yumFetch(c, s.url+"/yum/torrent_service", "mirror.test", sets[set])
					if err != nil || status != 200 {
						t.Errorf("process %d, exchange %d: status %d, %v: %s", p, i, status, err, body)
						return
					}
					mu.Lock()
					bodies[set] = append(bodies[set], body)
					mu.Unlock()
				})
			}
		}
		began := time.Now()
		close(start)
		wg.Wait()
		t.Logf("%d exchanges for %d digests: %v", procs*perProc, len(sets), time.Since(began).Round(time.Millisecond))
		return bodies
	}

	// One new digest of 200 files, 200 exchanges at once.
	bodies := run([][]string{burst})
	if len(bodies[0]) != procs*perProc {
		t.Fatalf("%d of %d exchanges succeeded", len(bodies[0]), procs*perProc)
	}
	for i, b := range bodies[0] {
		if !bytes.Equal(b, bodies[0][0]) {
			t.Fatalf("answer %d differs from answer 0", i)
		}
	}
	checkPieces(t, root, bodies[0][0])

	// Five new digests over overlapping windows of 40 of 100 other files:
	// each file is in two of them.
	var sets [][]string
	for k := range 5 {
		var set []string
		for j := range 40 {
			set = append(set, shared[(20*k+j)%100])
		}
		sets = append(sets, slices.Sorted(slices.Values(set)))
	}
	bodies = run(sets)
	for k, bs := range bodies {
		if len(bs) != procs*perProc/len(sets) {
			t.Errorf("digest %d: %d of %d exchanges succeeded", k, len(bs), procs*perProc/len(sets))
			continue
		}
		for i, b := range bs {
			if !bytes.Equal(b, bs[0]) {
				t.Fatalf("digest %d: answer %d differs from answer 0", k, i)
			}
		}
		checkPieces(t, root, bs[0])
	}

	var logs []string
	for _, s := range servers {
		s.stop()
		logs = append(logs, s.log())
	}
	hashed := hashedPaths(logs...)
	for _, p := range append(burst, shared...) {
		if n := hashed[p[1:]]; n != 1 {
			t.Errorf("%s hashed %d times, want once", p, n)
		}
	}
	total, built := 0, 0
	for _, l := range logs {
		total += count(l, `msg="file hashed"`)
		built += count(l, `msg="torrent built"`)
	}
	if total != 300 || built != 6 {
		t.Errorf("%d files hashed and %d torrents built by the 4 processes, want 300 and 6", total, built)
	}
	for i, l := range logs {
		if bad := grep(l, "level=ERROR", "level=WARN"); bad != "" {
			t.Errorf("process %d logged errors or warnings:\n%.4000s", i, bad)
		}
	}
	t.Logf("files hashed per process: %d %d %d %d", count(logs[0], `msg="file hashed"`), count(logs[1], `msg="file hashed"`),
		count(logs[2], `msg="file hashed"`), count(logs[3], `msg="file hashed"`))
}
