package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
)

// holdEngine makes the engine's lock unavailable until the returned
// function is called: a reader holds it (Client.WriteStatus, writing to
// a writer that blocks) and a writer waits for it
// (Torrent.AllowDataUpload), so that every other reader waits too
// (sync.RWMutex). It checks that a reader (Torrent.BytesCompleted) does
// wait.
func holdEngine(t *testing.T, a *agent, tor *torrent.Torrent) (release func()) {
	t.Helper()
	held, free := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(free) }) }
	t.Cleanup(release)
	go a.swarm.cl.WriteStatus(blockingWriter{held, free})
	<-held
	go tor.AllowDataUpload()
	// Once the writer waits, a reader waits too; until then a reader
	// passes, and the check is made again.
	for try := 0; ; try++ {
		read := make(chan struct{})
		go func() {
			tor.BytesCompleted()
			close(read)
		}()
		select {
		case <-read:
			if try == 20 {
				t.Fatal("the engine's lock is not held: a reader gets it")
			}
			time.Sleep(50 * time.Millisecond)
			continue
		case <-time.After(300 * time.Millisecond):
		}
		break
	}
	return release
}

type blockingWriter struct{ held, free chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	select {
	case <-w.held:
	default:
		close(w.held)
	}
	<-w.free
	return len(p), nil
}

// TestHTTPWithoutEngineLock: /status, /metrics and a pass-through answer
// while the engine's lock is held (issue 20: nothing on the HTTP path
// waits for it). Before, /status and /metrics asked the engine for each
// torrent's figures under the agent's own lock, and waited as long as
// the engine's lock was held; now they answer with the latest figures
// taken (here by a /status before) when new ones do not come within
// statusWait.
func TestHTTPWithoutEngineLock(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"l-1-1.noarch.rpm", 1<<20+7)
	meta := writeRandom(t, root, "yum/el9/x86_64/repodata/repomd.xml", 4321)
	m := startMirror(t, root)
	a := startAgent(t, t.TempDir(), []string{m.base})
	getWhole(t, "agent", a.url(m.base+"/"+pkgDir+"l-1-1.noarch.rpm"), want)
	a.swarm.mu.Lock()
	var tor *torrent.Torrent
	for _, it := range a.swarm.items {
		tor = it.t
	}
	a.swarm.mu.Unlock()
	// The figures of a request before: what the requests below answer
	// while the engine is held.
	if resp, _ := get(t, a.srv.URL+"/status"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/status: %d", resp.StatusCode)
	}
	release := holdEngine(t, a, tor)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct {
		path string
		ok   func([]byte) bool
	}{
		{"/status", func(b []byte) bool {
			var st Status
			return json.Unmarshal(b, &st) == nil && len(st.Torrents) == 1 && st.Torrents[0].Completed == int64(len(want))
		}},
		{"/metrics", func(b []byte) bool {
			return strings.Contains(string(b), "pkgtorrent_agent_torrents{state=\"seeding\"} 1")
		}},
		{"/m/" + stringsReplaceScheme(m.base) + "/yum/el9/x86_64/repodata/repomd.xml", func(b []byte) bool { return string(b) == string(meta) }},
	} {
		start := time.Now()
		resp, err := client.Get(a.srv.URL + c.path)
		if err != nil {
			t.Errorf("GET %s with the engine's lock held: %v", c.path, err)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !c.ok(b) {
			t.Errorf("GET %s with the engine's lock held: %d, %v:\n%.600s", c.path, resp.StatusCode, err, b)
		}
		t.Logf("GET %s: %v with the engine's lock held", c.path, time.Since(start))
	}
	release()
	// Once the engine is free, the figures are new again.
	getWhole(t, "agent", a.url(m.base+"/"+pkgDir+"l-1-1.noarch.rpm"), want)
	var st Status
	_, b := get(t, a.srv.URL+"/status")
	if err := json.Unmarshal(b, &st); err != nil || st.Torrents[0].Users != 0 || st.Totals.FromOrigin != int64(len(want)) {
		t.Errorf("/status after the engine's lock was free: %v, %+v", err, st)
	}
}
