package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/failpoint"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/filelock"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
)

// pieceEntries lists the piece cache entries under cache (not the
// temporary files of writes under way).
func pieceEntries(t *testing.T, cache string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(filepath.Join(cache, "pieces"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".tmp-") {
			got = append(got, p)
		}
		if os.IsNotExist(err) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestAnswerBeforeEntries holds every piece cache write at its rename: a
// cold digest still gets its answer, the files' locks stay held until
// their entries are written (another process waiting for one would find
// the entry, not hash the file again), and once the writes go on, every
// entry is there and the locks are free.
func TestAnswerBeforeEntries(t *testing.T) {
	f := newFixture(t, nil)
	piecesDir := filepath.Join(f.cache, "pieces") + string(filepath.Separator)
	release := make(chan struct{})
	var held sync.Once
	heldCh := make(chan struct{})
	defer failpoint.Enable(failpoint.BeforeRename, func(name string) {
		if strings.HasPrefix(name, piecesDir) {
			held.Do(func() { close(heldCh) })
			<-release
		}
	})()
	answered := make(chan *httptest.ResponseRecorder)
	go func() {
		r := httptest.NewRequest(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+digestOf(somePackages), strings.NewReader(url.Values{"p": somePackages}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.svc.ServeHTTP(w, r)
		answered <- w
	}()
	select {
	case w := <-answered:
		if w.Code != http.StatusOK {
			t.Fatalf("POST: %d %s", w.Code, w.Body)
		}
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("no answer while the piece cache writes were held: the answer waits for them")
	}
	select {
	case <-heldCh:
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("no piece cache write began after the answer")
	}
	if got := pieceEntries(t, f.cache); len(got) != 0 {
		t.Errorf("entries before their writes were let go: %v", got)
	}
	store := piececache.Store{Dir: filepath.Join(f.cache, "pieces")}
	for _, p := range somePackages {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := store.Lock(ctx, strings.TrimPrefix(p, "/"), nil)
		cancel()
		if !errors.Is(err, filelock.ErrTimeout) {
			t.Errorf("%s: lock while its entry is not written: %v, want ErrTimeout (held by the request)", p, err)
		}
	}
	close(release)
	f.svc.Wait()
	if got := pieceEntries(t, f.cache); len(got) != len(somePackages) {
		t.Errorf("%d entries once written, want %d: %v", len(got), len(somePackages), got)
	}
	for _, p := range somePackages {
		l, err := store.Lock(context.Background(), strings.TrimPrefix(p, "/"), nil)
		if err != nil {
			t.Fatalf("%s: lock once written: %v", p, err)
		}
		l.Release()
	}
}

// TestWriteBehindNoDeadlock runs two services on one cache (two processes
// of the mirror) on the same 40 files, one in the opposite order of the
// other, both slowed down while hashing so that each holds the locks of
// entries it has not written yet when it reaches the other's: a request
// that waits for a lock writes what it holds first, so neither waits for
// the other until lock-timeout (503), and every file is hashed once
// between them.
func TestWriteBehindNoDeadlock(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.LockTimeout = 20 * time.Second })
	var paths []string
	for i := range 40 {
		rel := fmt.Sprintf("yum/many/p-%02d.rpm", i)
		if err := os.MkdirAll(filepath.Join(f.root, "yum/many"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.root, rel), []byte(strings.Repeat(rel, 1000+i)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "/"+rel)
	}
	// Past the stamp's racy window, so that the digests are cached.
	old := time.Now().Add(-time.Hour)
	for _, p := range paths {
		os.Chtimes(filepath.Join(f.root, p), old, old)
	}
	defer failpoint.Enable(failpoint.Hashed, func(string) { time.Sleep(5 * time.Millisecond) })()
	other := New(f.svc.cfg, Options{Log: f.svc.log})
	reversed := slices.Clone(paths)
	slices.Reverse(reversed)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, c := range []struct {
		svc   *Service
		paths []string
	}{{f.svc, paths}, {other, reversed}} {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+digestOf(c.paths), strings.NewReader(url.Values{"p": c.paths}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			start := time.Now()
			c.svc.ServeHTTP(w, r)
			codes[i] = w.Code
			if w.Code != http.StatusOK {
				t.Errorf("service %d: %d after %v: %s", i, w.Code, time.Since(start).Round(time.Millisecond), w.Body)
			}
		})
	}
	wg.Wait()
	f.svc.Wait()
	other.Wait()
	if n := f.svc.Stats.FilesHashed.Load() + other.Stats.FilesHashed.Load(); n != int64(len(paths)) {
		t.Errorf("%d files hashed between the two services (%d + %d), want each of the %d once",
			n, f.svc.Stats.FilesHashed.Load(), other.Stats.FilesHashed.Load(), len(paths))
	}
	if got := pieceEntries(t, f.cache); len(got) != len(paths) {
		t.Errorf("%d entries, want %d", len(got), len(paths))
	}
}
