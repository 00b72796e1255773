package main

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackpal/bencode-go"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
)

// bigSize is the size of the file the crash tests hash: large enough that
// a kill lands while it is being hashed, sparse so that it costs no disk.
const bigSize = 256<<20 + 12345

const bigRel = "yum/big/big.iso"

// crashMirror writes a sparse file of bigSize bytes with data at a few
// places, and a small file, under a new document root. It returns the
// root, a trackers file and the big file's piece digests, computed here.
func crashMirror(t *testing.T) (root, trackers string, want []byte) {
	t.Helper()
	dir := t.TempDir()
	root, trackers = filepath.Join(dir, "www"), filepath.Join(dir, "trackers")
	os.WriteFile(trackers, nil, 0o644)
	name := filepath.Join(root, bigRel)
	os.MkdirAll(filepath.Dir(name), 0o755)
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 100 << 20, 255 << 20} {
		if _, err := f.WriteAt(bytes.Repeat([]byte("crash test data "), 1<<16), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(bigSize); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			sum := sha1.Sum(buf[:n])
			want = append(want, sum[:]...)
		}
		if err != nil {
			break
		}
	}
	f.Close()
	os.WriteFile(filepath.Join(root, "yum/big/small.rpm"), []byte("small"), 0o644)
	return root, trackers, want
}

// crashCase is one cache folder and the settings of the processes that
// share it.
type crashCase struct {
	t                    *testing.T
	root, cache, tracker string
	want                 []byte
}

func (c *crashCase) args(extra ...string) []string {
	return append([]string{"-root", c.root, "-cache", c.cache, "-trackers", c.tracker, "-log-level", "debug"}, extra...)
}

// start starts a process of the normal binary, or of the failpoint one
// stopping at failpoint (whose arg contains match).
func (c *crashCase) start(name, failpoint, match string, extra ...string) *server {
	c.t.Helper()
	if failpoint == "" {
		return startServer(c.t, name, serviceBinary(c.t), nil, c.args(extra...)...)
	}
	env := []string{"PKGTORRENT_FAILPOINT=" + failpoint, "PKGTORRENT_FAILPOINT_MATCH=" + match}
	return startServer(c.t, name, failpointBinary(c.t), env, c.args(extra...)...)
}

// entry is the big file's piece cache entry.
func (c *crashCase) entry() string {
	return piececache.Store{Dir: filepath.Join(c.cache, "pieces")}.Path(bigRel, 1<<20)
}

// temps returns the temporary files under the cache folder.
func (c *crashCase) temps() []string {
	var temps []string
	filepath.WalkDir(c.cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			temps = append(temps, p)
		}
		return nil
	})
	return temps
}

// checkEntry checks that the big file's piece cache entry, if there is
// one, holds the right digests: a cache entry is either right or absent.
func (c *crashCase) checkEntry(mustExist bool) {
	c.t.Helper()
	b, err := os.ReadFile(c.entry())
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return
	}
	if err != nil {
		c.t.Fatalf("piece cache entry: %v", err)
	}
	_, d, err := piececache.Decode(b)
	if err != nil || !bytes.Equal(d.Padded[:len(d.Padded)-20], c.want[:len(c.want)-20]) || d.Tail != [20]byte(c.want[len(c.want)-20:]) {
		c.t.Errorf("piece cache entry holds wrong digests (%v)", err)
	}
}

// getSingle asks s for the big file's torrent and checks it against the
// digests computed by the test.
func (c *crashCase) getSingle(s *server) {
	c.t.Helper()
	res, body := get(c.t, "GET", s.url+"/yum/torrent_service/single/"+bigRel, nil)
	c.checkSingle(s.Name, res.StatusCode, body)
}

func (c *crashCase) checkSingle(name string, status int, body []byte) {
	c.t.Helper()
	if status != 200 {
		c.t.Fatalf("%s: status %d: %s", name, status, body)
	}
	v, err := bencode.Decode(bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if got := []byte(v.(map[string]any)["info"].(map[string]any)["pieces"].(string)); !bytes.Equal(got, c.want) {
		c.t.Errorf("%s: the torrent's pieces differ from the file's", name)
	}
}

// background sends a request whose process the test is going to kill;
// its answer does not matter.
func background(u string) {
	go func() {
		if res, err := http.Get(u); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
}

var (
	failpointReached = regexp.MustCompile(`msg="failpoint reached"`)
	waitingForLock   = regexp.MustCompile(`msg="waiting for a lock held elsewhere"`)
)

// TestKilledWhileHashing stops a process half-way through hashing a
// 256 MiB file, holding the info entry's and the file's locks. Another
// process gives up on the lock with 503 and Retry-After; a third one
// waits; once the first is killed with SIGKILL, the kernel releases its
// locks, the third hashes the file and answers with the right pieces, and
// nothing the first one did is left or trusted.
func TestKilledWhileHashing(t *testing.T) {
	root, trackers, want := crashMirror(t)
	c := &crashCase{t: t, root: root, cache: filepath.Join(t.TempDir(), "cache"), tracker: trackers, want: want}
	p1 := c.start("p1", "hash-half", bigRel)
	background(p1.url + "/yum/torrent_service/single/" + bigRel)
	p1.waitLog(failpointReached, time.Minute)

	p2 := c.start("p2", "", "", "-lock-timeout", "500ms")
	res, body := get(t, "GET", p2.url+"/yum/torrent_service/single/"+bigRel, nil)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Errorf("while another process holds the lock: status %d, Retry-After %q: %s; want 503 with Retry-After",
			res.StatusCode, res.Header.Get("Retry-After"), body)
	}

	p3 := c.start("p3", "", "", "-lock-timeout", "5m")
	type answer struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := client().Get(p3.url + "/yum/torrent_service/single/" + bigRel)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		done <- answer{res.StatusCode, body, err}
	}()
	p3.waitLog(waitingForLock, time.Minute)
	p1.kill()
	select {
	case a := <-done:
		if a.err != nil {
			t.Fatalf("p3: %v", a.err)
		}
		c.checkSingle("p3", a.status, a.body)
	case <-time.After(5 * time.Minute):
		t.Fatalf("p3 still waits after p1 was killed:\n%s", p3.log())
	}
	// Stopped before the cache is looked at: it writes the entry after
	// its answer, and before it exits; and its log is then complete.
	p3.stop()
	c.checkEntry(true)
	if temps := c.temps(); len(temps) != 0 {
		t.Errorf("temporary files left: %q", temps)
	}
	if n := hashedPaths(p3.log())[bigRel]; n != 1 {
		t.Errorf("p3 hashed the file %d times, want once", n)
	}
}

// TestKilledWritingCache kills a process in the middle of writing a cache
// file (half of it in the temporary file), or with the temporary file
// complete but not renamed into place. The next process must not trust
// it, must answer right, and removes a piece entry's leftover.
func TestKilledWritingCache(t *testing.T) {
	root, trackers, want := crashMirror(t)
	for _, tc := range []struct {
		name, failpoint, match string
	}{
		{"half of the piece cache entry written", "write-half", "/pieces/"},
		{"piece cache entry written, not renamed", "before-rename", "/pieces/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &crashCase{t: t, root: root, cache: filepath.Join(t.TempDir(), "cache"), tracker: trackers, want: want}
			p1 := c.start("p1", tc.failpoint, tc.match)
			background(p1.url + "/yum/torrent_service/single/" + bigRel)
			p1.waitLog(failpointReached, time.Minute)
			p1.kill()
			if _, err := os.Stat(c.entry()); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the entry exists after a kill before its rename: %v", err)
			}
			temps := c.temps()
			if len(temps) != 1 {
				t.Fatalf("temporary files %q, want the one the killed write left", temps)
			}
			// The info entry was written before the answer, the piece
			// entry after it, where the kill came: without the info
			// entry, p2 needs the piece entry the kill cut short.
			if err := os.RemoveAll(filepath.Join(c.cache, "info")); err != nil {
				t.Fatal(err)
			}
			p2 := c.start("p2", "", "")
			c.getSingle(p2)
			p2.stop() // the entry is written after the answer, before the exit
			c.checkEntry(true)
			if left := c.temps(); len(left) != 0 {
				t.Errorf("leftover %q not removed", left)
			}
			if n := hashedPaths(p2.log())[bigRel]; n != 1 {
				t.Errorf("p2 hashed the file %d times, want once", n)
			}
		})
	}

	t.Run("half of the info cache entry written", func(t *testing.T) {
		c := &crashCase{t: t, root: root, cache: filepath.Join(t.TempDir(), "cache"), tracker: trackers, want: want}
		paths := []string{"/" + bigRel, "/yum/big/small.rpm"}
		p1 := c.start("p1", "write-half", "/info/")
		go yumFetch(client(), p1.url+"/yum/torrent_service", "mirror.test", paths)
		p1.waitLog(failpointReached, time.Minute)
		p1.kill()
		key := infocache.Key(strings.Join(paths, "\n"))
		if _, err := os.Stat(filepath.Join(c.cache, "info", key)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the info entry exists after a kill in the middle of writing it: %v", err)
		}
		if len(c.temps()) != 1 {
			t.Fatalf("temporary files %q, want the one the killed write left", c.temps())
		}
		p2 := c.start("p2", "", "")
		res, _ := get(t, "GET", p2.url+"/yum/torrent_service/digest/"+key, nil)
		if res.StatusCode != 412 {
			t.Errorf("GET of the digest whose entry was half written: %d, want 412", res.StatusCode)
		}
		status, body, err := yumFetch(client(), p2.url+"/yum/torrent_service", "mirror.test", paths)
		if err != nil || status != 200 {
			t.Fatalf("yum exchange after the kill: %d %v: %s", status, err, body)
		}
		checkPieces(t, root, body)
		// The piece cache entries are written after the answer, which
		// the kill came before: p2 hashes both files again, once each,
		// and writes their entries before it exits.
		p2.stop()
		c.checkEntry(true)
		if n := count(p2.log(), `msg="file hashed"`); n != len(paths) {
			t.Errorf("p2 hashed %d files, want the %d whose entries the kill lost", n, len(paths))
		}
	})
}

// TestKilledAtLogMoments kills the normal binary with SIGKILL as soon as
// its log shows it started hashing, finished hashing (while it writes the
// cache), or built the torrent. Whatever the kill interrupted, the next
// process answers right, and a cache entry is either right or absent.
func TestKilledAtLogMoments(t *testing.T) {
	root, trackers, want := crashMirror(t)
	for _, moment := range []string{`msg="hashing file"`, `msg="file hashed"`, `msg="torrent built"`} {
		t.Run(moment, func(t *testing.T) {
			c := &crashCase{t: t, root: root, cache: filepath.Join(t.TempDir(), "cache"), tracker: trackers, want: want}
			p1 := c.start("p1", "", "")
			background(p1.url + "/yum/torrent_service/single/" + bigRel)
			p1.waitLog(regexp.MustCompile(regexp.QuoteMeta(moment)), time.Minute)
			p1.kill()
			c.checkEntry(false)
			p2 := c.start("p2", "", "")
			c.getSingle(p2)
			p2.stop() // the entry is written after the answer, before the exit
			// p2 answers from the info entry when p1 wrote it before the
			// kill; else it hashes the file and writes its piece entry.
			c.checkEntry(count(p2.log(), `msg="file hashed"`) > 0)
			for _, tmp := range c.temps() {
				if strings.Contains(tmp, "/pieces/") {
					t.Errorf("leftover %s not removed", tmp)
				}
			}
		})
	}
}
