package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// limitedBinary returns a program that runs the service binary with its
// descriptor limit (soft and hard) at nofile, through prlimit(1), which
// execs it: the process keeps the pid.
func limitedBinary(t *testing.T, nofile int) string {
	t.Helper()
	prlimit := e2e.Need(t, "prlimit")
	script := filepath.Join(t.TempDir(), "limited")
	text := fmt.Sprintf("#!/bin/sh\nexec %s --nofile=%d:%d %s \"$@\"\n", prlimit, nofile, nofile, serviceBinary(t))
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// descriptors counts the open descriptors of process pid.
func descriptors(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// watchDescriptors samples the descriptors of pid until stop is called,
// which returns the most seen.
func watchDescriptors(pid int) (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if n := int64(descriptors(pid)); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() int {
		close(done)
		wg.Wait()
		return int(peak.Load())
	}
}

// legitimate fetches the single-mode torrent of boot.iso on a new
// connection and checks it against the golden info hash and the file's
// bytes.
func legitimate(t *testing.T, site, root string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	res, err := c.Get(site + "/yum/torrent_service/single/yum/iso/boot.iso")
	if err != nil {
		t.Fatalf("legitimate request under the flood: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("legitimate request under the flood: %d %v: %.200s", res.StatusCode, err, body)
	}
	if got, want := infoHash(t, body), golden(t, "single-boot-iso-pkgtorrent"); got != want {
		t.Fatalf("legitimate request under the flood: info hash %s, want %s", got, want)
	}
	checkPieces(t, root, body)
}

// TestConnectionFloodsBinary holds 1000 idle keep-alive connections and
// 1000 slow POST bodies open against the real binary, whose descriptor
// limit is 1024, and meanwhile asks for a torrent ten times on new
// connections: every legitimate request gets the right torrent, and the
// process never holds more descriptors than its connection bound allows.
// Before the bound, the floods took every descriptor (accept4: too many
// open files) and the legitimate requests were never answered (issue 11).
func TestConnectionFloodsBinary(t *testing.T) {
	root, cache, trackers := mirror(t)
	const nofile = 1024
	s := startServer(t, "service", limitedBinary(t, nofile), nil,
		"-root", root, "-cache", cache, "-trackers", trackers, "-format", "pkgtorrent")
	// The bound the service chose for its descriptor limit; without
	// one, the limit itself.
	maxConns := nofile
	if m := regexp.MustCompile(`msg="serving HTTP".* max_connections=(\d+)`).FindStringSubmatch(s.log()); m != nil {
		maxConns, _ = strconv.Atoi(m[1])
	}
	host := strings.TrimPrefix(s.url, "http://")
	stop := watchDescriptors(s.Cmd.Process.Pid)

	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// 1000 idle keep-alive connections: one request each, answered,
	// then nothing; and 1000 POSTs that send their header and 2 of the
	// 100 000 body bytes they announce.
	var idleAnswered atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for i := range work {
				c, err := net.DialTimeout("tcp", host, 5*time.Second)
				if err != nil {
					continue
				}
				keep(c)
				if i%2 == 0 {
					c.SetDeadline(time.Now().Add(5 * time.Second))
					fmt.Fprintf(c, "GET /yum/torrent_service/nullfile/1_0 HTTP/1.1\r\nHost: mirror.test\r\n\r\n")
					if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						idleAnswered.Add(1)
					}
				} else {
					fmt.Fprintf(c, "POST /yum/torrent_service/digest/%040d HTTP/1.1\r\nHost: mirror.test\r\n"+
						"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\np=", i)
				}
			}
		})
	}
	for i := range 2000 {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("flood: %d connections open, %d idle ones answered once", len(conns), idleAnswered.Load())

	for range 10 {
		legitimate(t, s.url, root)
	}
	peak := stop()
	// Connections, plus the listener, the log and the work of one
	// request at a time.
	if limit := maxConns + descriptorReserve; peak > limit {
		t.Errorf("the service held up to %d descriptors, want at most %d (max-connections %d + %d)", peak, limit, maxConns, descriptorReserve)
	}
	t.Logf("peak descriptors %d, max-connections %d", peak, maxConns)
}

// TestManyFoldersGlobBinary asks six times at once, with six pattern
// texts, for a glob that matches one file in each of 1500 folders, from
// the real binary whose descriptor limit is 2048: every request gets the
// torrent of the 1500 files, with right pieces, and the descriptors stay
// bounded. Before the bound, each request held every folder open until it
// ended: 9000 descriptors wanted, 500 "too many open files" (issue 11).
func TestManyFoldersGlobBinary(t *testing.T) {
	root, cache, trackers := mirror(t)
	const folders = 1500
	for i := range folders {
		dir := filepath.Join(root, "yum", "many", fmt.Sprintf("d%04d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.rpm"), []byte(strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, "service", limitedBinary(t, 2048), nil,
		"-root", root, "-cache", cache, "-trackers", trackers, "-format", "pkgtorrent")
	stop := watchDescriptors(s.Cmd.Process.Pid)
	patterns := []string{"*/f.rp[m]", "*/f.r[p]m", "*/[f].rpm", "*/f.rp%3F", "d*/f.rpm", "*/%3F.rpm"}
	bodies := make([][]byte, len(patterns))
	var wg sync.WaitGroup
	c := client()
	for i, p := range patterns {
		wg.Go(func() {
			res, err := c.Get(s.url + "/yum/torrent_service/single/yum/many/" + p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 {
				t.Errorf("%s: %d %.200s", p, res.StatusCode, b)
				return
			}
			bodies[i] = b
		})
	}
	wg.Wait()
	peak := stop()
	if t.Failed() {
		t.FailNow()
	}
	want := infoHash(t, bodies[0])
	for i, b := range bodies {
		if got := infoHash(t, b); got != want {
			t.Errorf("%s: info hash %s, %s gave %s", patterns[i], got, patterns[0], want)
		}
	}
	checkPieces(t, root, bodies[0])
	if files := strings.Count(string(bodies[0]), "f.rpm"); files != folders {
		t.Errorf("the torrent names f.rpm %d times, want %d", files, folders)
	}
	// The process-wide bound on open folders, plus the files six
	// requests hash at once and what else the process holds.
	if limit := 1024 + 6*64 + 256; peak > limit {
		t.Errorf("the service held up to %d descriptors, want at most %d", peak, limit)
	}
	t.Logf("peak descriptors %d", peak)
}

// TestTimeoutsBinary runs the real binary with short timeouts and checks
// what each one ends: a header sent in part, a body sent in part, an idle
// kept-alive connection, and an answer the client does not read are all
// closed by the service; a header over max-header-bytes gets 431. Before
// them, only the header had a timeout, and headers up to 1 MiB were read
// (issue 11).
func TestTimeoutsBinary(t *testing.T) {
	root, cache, trackers := mirror(t)
	big := filepath.Join(root, "yum", "iso", "big.iso")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const bigSize = 256 << 20
	if err := os.Truncate(big, bigSize); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "service", serviceBinary(t), nil, "-root", root, "-cache", cache, "-trackers", trackers,
		"-header-timeout", "1s", "-body-timeout", "2s", "-idle-timeout", "1s", "-write-timeout", "1s", "-max-header-bytes", "4KiB")
	host := strings.TrimPrefix(s.url, "http://")
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reads c until the service closes it, and fails the test when
	// that takes 30 s: far longer than any of the timeouts.
	closed := func(what string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open after 30 s", what)
		}
	}
	header := dial()
	fmt.Fprintf(header, "GET /yum/iso/boot.iso HTTP/1.1\r\nHost: mirror.test\r\n")
	body := dial()
	fmt.Fprintf(body, "POST /yum/torrent_service/digest/%040d HTTP/1.1\r\nHost: mirror.test\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\np=", 0)
	idle := dial()
	fmt.Fprintf(idle, "GET /yum/torrent_service/nullfile/1_0 HTTP/1.1\r\nHost: mirror.test\r\n\r\n")
	br := bufio.NewReader(idle)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	unread := dial()
	fmt.Fprintf(unread, "GET /yum/iso/big.iso HTTP/1.1\r\nHost: mirror.test\r\n\r\n")

	closed("a header sent in part", header)
	closed("a body sent in part", body)
	closed("an idle connection", idle)
	// The client reads nothing for a while, then everything: the service
	// gave up writing to it, so it gets less than the file.
	time.Sleep(4 * time.Second)
	unread.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _ := io.Copy(io.Discard, unread)
	if n >= bigSize {
		t.Errorf("a client that stopped reading for 4 s still got the whole %d bytes", n)
	}

	huge := dial()
	fmt.Fprintf(huge, "GET /yum/iso/boot.iso HTTP/1.1\r\nHost: mirror.test\r\nX-Pad: %s\r\n\r\n", strings.Repeat("a", 16<<10))
	res, err = http.ReadResponse(bufio.NewReader(huge), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 16 KiB header with max-header-bytes 4KiB: %d, want 431", res.StatusCode)
	}
}
