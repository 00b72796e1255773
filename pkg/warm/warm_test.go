package warm_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/warm"
)

type fixture struct {
	dir, root, cache string
	opt              warm.Options
	logs             *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, root: filepath.Join(dir, "www"), cache: filepath.Join(dir, "cache"), logs: new(bytes.Buffer)}
	if err := samplemirror.Create(f.root); err != nil {
		t.Fatal(err)
	}
	root, err := docroot.Open(f.root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	f.opt = warm.Options{
		Root:        root,
		Pieces:      piececache.Store{Dir: filepath.Join(f.cache, "pieces")},
		PieceLength: 1 << 20,
		Log:         slog.New(slog.NewTextHandler(f.logs, nil)),
	}
	return f
}

// sample returns the number and total size of the sample files under
// prefix.
func sample(prefix string) (n, size int64) {
	for _, sf := range samplemirror.Files {
		if strings.HasPrefix(sf.Path, prefix) {
			n++
			size += sf.Size
		}
	}
	return n, size
}

var mirrorPatterns = []string{"yum/**/*.rpm", "/yum/iso/*.iso"}

func TestWarmThenServiceHashesNothing(t *testing.T) {
	for _, format := range []torrent.Format{torrent.BEP47, torrent.Hybrid} {
		t.Run(string(format), func(t *testing.T) { testWarmThenService(t, format) })
	}
}

func testWarmThenService(t *testing.T, format torrent.Format) {
	f := newFixture(t)
	f.opt.V2 = format == torrent.Hybrid
	s, err := warm.Run(context.Background(), f.opt, mirrorPatterns, nil)
	if err != nil {
		t.Fatalf("warm: %v\n%s", err, f.logs)
	}
	n, size := sample("yum/")
	want := warm.Snapshot{Matched: true, Files: n, Bytes: size, FilesDone: n, BytesDone: size, Hashed: n, BytesHashed: size, Workers: pieces.FilesAtOnce(f.opt.V2)}
	s.Elapsed = 0
	if s != want {
		t.Errorf("first run: %+v\nwant %+v", s, want)
	}

	// The service, in a new process over the same cache, finds every
	// entry valid.
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers, cfg.Format = f.root, f.cache, filepath.Join(f.dir, "trackers"), format
	svc := service.New(cfg, service.Options{Log: slog.New(slog.NewTextHandler(f.logs, nil))})
	var paths []string
	for _, sf := range samplemirror.Files {
		if strings.HasPrefix(sf.Path, "yum/el9/") {
			paths = append(paths, "/"+sf.Path)
		}
	}
	digest := sha1Hex(strings.Join(paths, "\n"))
	r := httptest.NewRequest(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+digest, strings.NewReader(url.Values{"p": paths}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	svc.ServeHTTP(w, r)
	svc.Wait() // its piece cache entries are written after the answer
	if w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	svc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://mirror.test/yum/torrent_service/single/yum/iso/boot.iso", nil))
	svc.Wait()
	if w.Code != http.StatusOK {
		t.Fatalf("single: %d %s", w.Code, w.Body)
	}
	if hashed, hits := svc.Stats.BytesHashed.Load(), svc.Stats.PieceCacheHits.Load(); hashed != 0 || hits != int64(len(paths)+1) {
		t.Errorf("after warm the service hashed %d bytes with %d piece cache hits; want 0 and %d", hashed, hits, len(paths)+1)
	}

	// A second run finds everything valid; a changed file is hashed again.
	s, err = warm.Run(context.Background(), f.opt, mirrorPatterns, nil)
	if err != nil || s.Hashed != 0 || s.Valid != n || s.BytesHashed != 0 || s.BytesDone != size {
		t.Errorf("second run: %+v, %v; want every file valid, nothing hashed", s, err)
	}
	changed := filepath.Join(f.root, "yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm")
	if err := os.WriteFile(changed, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = warm.Run(context.Background(), f.opt, mirrorPatterns, nil)
	if err != nil || s.Hashed != 1 || s.Valid != n-1 || s.BytesHashed != 3 {
		t.Errorf("after a change: %+v, %v; want the changed file (3 bytes) hashed, the rest valid", s, err)
	}
}

func TestWarmPatterns(t *testing.T) {
	f := newFixture(t)
	// Overlapping patterns give each file once; a pattern that matches
	// nothing is logged.
	s, err := warm.Run(context.Background(), f.opt, []string{"yum/**/p*.rpm", "yum/el9/x86_64/Packages/piece-1.0-1.x86_64.rpm", "nope/**"}, nil)
	if err != nil || s.Files != 2 || s.Hashed != 2 {
		t.Errorf("%+v, %v; want the 2 p*.rpm files hashed", s, err)
	}
	if !strings.Contains(f.logs.String(), `msg="warm: nothing matches" pattern=nope/**`) {
		t.Errorf("no warning for the pattern that matches nothing:\n%s", f.logs)
	}
	for _, tc := range []struct {
		patterns []string
		want     error
	}{
		{[]string{"nope/**", "yum/nope.rpm"}, warm.ErrNoFiles},
		{[]string{"yum/../../etc/*"}, docroot.ErrOutside},
		{[]string{"yum/**/["}, docroot.ErrInvalid},
	} {
		if _, err := warm.Run(context.Background(), f.opt, tc.patterns, nil); !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.patterns, err, tc.want)
		}
	}
}

func TestWarmFailures(t *testing.T) {
	f := newFixture(t)
	// A piece cache that cannot be written: every file fails, and says so.
	blocker := filepath.Join(f.dir, "not-a-folder")
	os.WriteFile(blocker, nil, 0o644)
	f.opt.Pieces.Dir = blocker
	s, err := warm.Run(context.Background(), f.opt, []string{"yum/iso/*"}, nil)
	if !errors.Is(err, warm.ErrFailed) || s.Failed != 1 || s.Hashed != 0 || s.FilesDone != 1 {
		t.Errorf("%+v, %v; want 1 failed file and ErrFailed", s, err)
	}
	if !strings.Contains(f.logs.String(), `msg="warm: file not hashed" path=yum/iso/boot.iso`) {
		t.Errorf("the failure is not logged:\n%s", f.logs)
	}
}

// checkCache checks that every piece cache entry decodes and matches its
// file, and that no temporary file is left.
func checkCache(t *testing.T, f *fixture) (entries int) {
	t.Helper()
	filepath.WalkDir(filepath.Join(f.cache, "pieces"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(d.Name(), ".lock") {
			return err // lock files are the service's locks, shared with warm
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(f.cache, "pieces"), filepath.Dir(p))
		fi, err := os.Stat(filepath.Join(f.root, rel))
		if err != nil {
			t.Errorf("entry %s: %v", p, err)
			return nil
		}
		if _, err := f.opt.Pieces.Load(filepath.ToSlash(rel), piececache.StampOf(fi), 1<<20, f.opt.V2); err != nil {
			t.Errorf("entry %s is not valid: %v", p, err)
		}
		entries++
		return nil
	})
	return entries
}

func TestWarmInterrupted(t *testing.T) {
	f := newFixture(t)
	if _, err := warm.Run(context.Background(), f.opt, []string{"yum/iso/*"}, nil); err != nil {
		t.Fatal(err)
	}
	// Stopped before it starts: nothing more is done, nothing is lost.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := warm.Run(ctx, f.opt, mirrorPatterns, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v, want context.Canceled", err)
	}
	if s.Hashed != 0 || s.BytesHashed != 0 {
		t.Errorf("cancelled run hashed: %+v", s)
	}
	if n := checkCache(t, f); n != 1 {
		t.Errorf("%d entries after the cancelled run, want the 1 written before", n)
	}

	// Stopped while hashing, wherever that happens to be: every entry
	// left is whole and valid, and the next run finishes the job.
	big := filepath.Join(f.root, "yum/iso/big.iso")
	if err := os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	p := new(warm.Progress)
	done := make(chan error, 1)
	go func() {
		_, err := warm.Run(ctx, f.opt, mirrorPatterns, p)
		done <- err
	}()
	for i := 0; i < 10000 && p.Snapshot().BytesHashed == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted run: %v", err)
	}
	checkCache(t, f)
	s, err = warm.Run(context.Background(), f.opt, mirrorPatterns, nil)
	if err != nil || s.Valid+s.Hashed != s.Files {
		t.Errorf("run after the interruption: %+v, %v", s, err)
	}
	if n := checkCache(t, f); int64(n) != s.Files {
		t.Errorf("%d entries, want %d", n, s.Files)
	}
}

func TestReport(t *testing.T) {
	s := warm.Snapshot{Matched: true, Files: 9, Bytes: 10 << 20, FilesDone: 4, BytesDone: 5 << 20, Hashed: 3, BytesHashed: 4 << 20, Valid: 1, Workers: 2, Elapsed: 2 * time.Second}
	line := s.Line(80)
	for _, want := range []string{"[####", "....]", " 50%", "4/9 files", "5.0 MiB/10.0 MiB", "2.0 MiB/s", "0:03 left"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if len(line) > 79 {
		t.Errorf("line of %d columns for a width of 80: %q", len(line), line)
	}
	if got := (warm.Snapshot{}).Line(80); got != "warm: matching the patterns..." {
		t.Errorf("before matching: %q", got)
	}
	want := "warm: 9 files, 10.0 MiB: 3 hashed, 1 already valid, 0 failed; hashed 4.0 MiB in 2s (2.0 MiB/s) with 2 workers"
	if got := s.Summary(false); got != want {
		t.Errorf("summary\n%q, want\n%q", got, want)
	}
	valid := warm.Snapshot{Matched: true, Files: 2, Bytes: 2048, FilesDone: 2, BytesDone: 2048, Valid: 2, Workers: 4, Elapsed: 1500 * time.Microsecond}
	if got, want := valid.Summary(false), "warm: 2 files, 2.0 KiB: 0 hashed, 2 already valid, 0 failed; nothing to hash, took 2ms with 4 workers"; got != want {
		t.Errorf("summary\n%q, want\n%q", got, want)
	}
	if got := s.Summary(true); !strings.HasPrefix(got, "warm: interrupted after 4 of 9 files") || !strings.HasSuffix(got, "; the entries written are kept") {
		t.Errorf("interrupted summary %q", got)
	}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestWarmTakesTheServiceLock holds the lock that the service takes while
// it hashes a file: warm waits for it instead of hashing the same file at
// the same time, and once the holder has written the entry, uses it.
func TestWarmTakesTheServiceLock(t *testing.T) {
	f := newFixture(t)
	const iso = "yum/iso/boot.iso"
	l, err := f.opt.Pieces.Lock(context.Background(), iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s, err := warm.Run(ctx, f.opt, []string{iso}, nil)
	if err == nil || s.Hashed != 0 {
		t.Fatalf("with the lock held elsewhere: %+v, %v; want no hashing and an error", s, err)
	}

	// The holder writes the entry, as the service would, and lets go.
	fd, err := os.Open(filepath.Join(f.root, iso))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := fd.Stat()
	d, st, err := piececache.HashFile(fd, piececache.StampOf(fi), piececache.HashOptions{PieceLength: f.opt.PieceLength, Workers: 1})
	fd.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.opt.Pieces.Save(iso, st, d); err != nil {
		t.Fatal(err)
	}
	l.Release()
	s, err = warm.Run(context.Background(), f.opt, []string{iso}, nil)
	if err != nil || s.Hashed != 0 || s.Valid != 1 {
		t.Errorf("after the holder wrote the entry: %+v, %v; want it found valid, nothing hashed", s, err)
	}
}
