package agent

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/version"
)

// BenchmarkRestartRehash: an agent whose store holds 2 GiB (two 1 GiB
// packages, downloaded through it first) starts again; it reports the
// time until every stored file is hashed again (agent-s/op), and the time
// sha1sum takes over the same files (sha1sum-s/op), both with the files
// in the page cache, with the CPU and the hashing path.
//
// On the machine of 2026-12-06 (AMD EPYC family 26, 2 cores, lanes-pread
// chosen): 0.27 s against sha1sum's 2.66 s (one core, one file after the
// other).
func BenchmarkRestartRehash(b *testing.B) {
	const files, size = 2, 1 << 30
	sha1sum, err := exec.LookPath("sha1sum") // coreutils
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	for i := range files {
		writeRandom(b, root, fmt.Sprintf("%sbig%d-1-1.noarch.rpm", pkgDir, i), size)
	}
	m := startMirror(b, root)
	store := b.TempDir()
	a := startAgent(b, store, []string{m.base})
	for i := range files {
		if resp, body := get(b, a.url(fmt.Sprintf("%s/%sbig%d-1-1.noarch.rpm", m.base, pkgDir, i))); resp.StatusCode != 200 || len(body) != size {
			b.Fatalf("download %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
	}
	var stored []string
	for _, t := range a.swarm.Status().Torrents {
		stored = append(stored, filepath.Join(store, "data", t.InfoHash, t.Name))
	}
	a.stop()
	var agentTime, sumTime time.Duration
	for b.Loop() {
		start := time.Now()
		a := startAgent(b, store, []string{m.base})
		a.swarm.mu.Lock()
		var verified []chan struct{}
		for _, it := range a.swarm.items {
			verified = append(verified, it.verified)
		}
		a.swarm.mu.Unlock()
		for _, v := range verified {
			<-v
		}
		agentTime += time.Since(start)
		if st := a.swarm.Status(); st.Torrents[0].Completed != size || st.Torrents[1].Completed != size {
			b.Fatalf("after the restart: %+v, want both files complete", st.Torrents)
		}
		a.stop()
		start = time.Now()
		if out, err := exec.Command(sha1sum, stored...).CombinedOutput(); err != nil {
			b.Fatalf("sha1sum: %v\n%s", err, out)
		}
		sumTime += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(agentTime.Seconds()/n, "agent-s/op")
	b.ReportMetric(sumTime.Seconds()/n, "sha1sum-s/op")
	b.Logf("cpu: %s; hashing: %s", version.CPU(), pieces.Chosen())
}
