package agent

import (
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestTrackersOnMirrorHostOnly: a torrent whose trackers are on another
// host than its mirror's is not announced to them (a torrent cannot make
// the agent contact hosts of its choosing), /status says it has no
// tracker, and the log says why no peer can find it; the download still
// comes whole from the mirror. A tracker on the mirror's host is kept.
func TestTrackersOnMirrorHostOnly(t *testing.T) {
	// Another host: 127.0.0.2, where the mirror is on 127.0.0.1.
	foreign, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine's loopback: %v", err)
	}
	defer foreign.Close()
	var contacted atomic.Int32
	go func() {
		for {
			c, err := foreign.Accept()
			if err != nil {
				return
			}
			contacted.Add(1)
			c.Close()
		}
	}()
	foreignURL := "http://" + foreign.Addr().String() + "/announce"
	sameHost := "http://127.0.0.1:" + strconv.Itoa(foreign.Addr().(*net.TCPAddr).Port) + "/announce"

	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"f-1-1.noarch.rpm", 1<<20+5)
	m := startMirror(t, root, foreignURL, sameHost)
	a := startAgent(t, t.TempDir(), []string{m.base})
	getWhole(t, "download", a.url(m.base+"/"+pkgDir+"f-1-1.noarch.rpm"), want)
	st := a.swarm.Status().Torrents
	if len(st) != 1 || !slices.Equal(st[0].Trackers, []string{sameHost}) {
		t.Errorf("/status trackers = %v, want only the one on the mirror's host, %s", st[0].Trackers, sameHost)
	}
	// The engine announces at once when a torrent is added; give it the
	// time a refused connection takes.
	time.Sleep(500 * time.Millisecond)
	if n := contacted.Load(); n != 0 {
		t.Errorf("the agent connected %d times to the tracker on another host (%s)", n, foreignURL)
	}
}
