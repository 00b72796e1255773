package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// rawGet sends target exactly as given on the request line, so that no
// client library cleans or re-encodes it, and returns the status and body.
func rawGet(t *testing.T, site, target string) (int, string) {
	t.Helper()
	u, err := url.Parse(site)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: mirror.test\r\nConnection: close\r\n\r\n", target)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestHostilePathsBinary sends the path attacks to the real binary as raw
// request lines, to the service and to the standalone server's file
// handler: nothing outside the root is served or named.
func TestHostilePathsBinary(t *testing.T) {
	root, cache, trackers := mirror(t)
	secretDir := filepath.Join(filepath.Dir(root), "secret")
	os.MkdirAll(secretDir, 0o755)
	os.WriteFile(filepath.Join(secretDir, "passwd"), []byte("root:SECRET:0:0\n"), 0o644)
	os.Symlink("../../secret/passwd", filepath.Join(root, "yum/out-file"))
	os.Symlink("../../secret", filepath.Join(root, "yum/out-dir"))
	os.Symlink("iso", filepath.Join(root, "yum/in-dir"))
	if err := syscall.Mkfifo(filepath.Join(root, "yum/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "service", serviceBinary(t), nil, "-root", root, "-cache", cache, "-trackers", trackers)
	const svc = "/yum/torrent_service/single/"
	for _, tc := range []struct {
		target string
		want   int
	}{
		{svc + "yum/../../secret/passwd", 403},
		{svc + "yum/%2e%2e/%2e%2e/secret/passwd", 403},
		{svc + "yum/%252e%252e/%252e%252e/secret/passwd", 403},
		{svc + "yum%2f..%2f..%2fsecret%2fpasswd", 403},
		{svc + "/etc/passwd", 403},
		{svc + "%2fetc%2fpasswd", 403},
		{svc + `yum\..\..\secret\passwd`, 403},
		{svc + "yum%5c..%5c..%5csecret%5cpasswd", 403},
		{svc + "yum/out-file", 403},
		{svc + "yum/out-dir/passwd", 403},
		{svc + "yum/out-dir/*", 403},
		{svc + "yum/fifo", 404},
		{svc + "yum/iso/boot.iso%00", 400},
		{svc + "yum/" + strings.Repeat("a", 300), 400},
		{svc + "yum/in-dir/boot.iso", 200},
		// The standalone server's own file handler.
		{"/yum/out-file", 403},
		{"/yum/out-dir/passwd", 403},
		{"/yum/" + strings.Repeat("a", 300), 404},
		{"/yum/in-dir/boot.iso", 200},
		{"/yum/../../secret/passwd", 404},
		{"/yum/%2e%2e/%2e%2e/secret/passwd", 404},
		{"/yum/fifo", 404},
	} {
		status, body := rawGet(t, s.url, tc.target)
		if status != tc.want {
			t.Errorf("GET %s: %d, want %d: %.200s", tc.target, status, tc.want, body)
		}
		if strings.Contains(body, "SECRET") {
			t.Errorf("GET %s: the answer holds the secret file", tc.target)
		}
	}
	s.stop()
	if bad := grep(s.log(), "level=ERROR"); bad != "" {
		t.Errorf("attacks logged as internal errors:\n%s", bad)
	}
}

// TestDiskFaultsBinary runs the real binary over a full cache (a 64 KiB
// tmpfs filled up) and a read-only one (a tmpfs remounted read-only,
// which stops root too): every answer is 200 with the right pieces, and
// the log has one line about the cache, not one per request.
func TestDiskFaultsBinary(t *testing.T) {
	for _, fault := range []string{"full", "read-only"} {
		t.Run(fault, func(t *testing.T) {
			root, _, trackers := mirror(t)
			mnt := e2e.MountTmpfs(t, "64k")
			switch fault {
			case "full":
				e2e.Fill(t, mnt)
			case "read-only":
				e2e.RemountReadOnly(t, mnt)
			}
			s := startServer(t, "service", serviceBinary(t), nil, "-root", root, "-cache", filepath.Join(mnt, "cache"), "-trackers", trackers)
			c := client()
			for i := range 10 {
				status, body, err := yumFetch(c, s.url+"/yum/torrent_service", "mirror.test", goldenAllPackages[i%3:])
				if err != nil || status != 200 {
					t.Fatalf("exchange %d: %d %v: %s", i, status, err, body)
				}
				checkPieces(t, root, body)
				res, b := get(t, "GET", s.url+"/yum/torrent_service/single/yum/iso/boot.iso", nil)
				if res.StatusCode != 200 {
					t.Fatalf("single: %d %s", res.StatusCode, b)
				}
				checkPieces(t, root, b)
			}
			s.stop()
			if n := count(s.log(), "cache unusable"); n != 1 {
				t.Errorf("%d log lines about the cache over 20 requests, want 1:\n%s", n, grep(s.log(), "level=WARN", "level=ERROR"))
			}
		})
	}
}

// TestTrackersFifoBinary puts a fifo where the trackers file should be:
// the service must keep answering (reading it would block forever).
func TestTrackersFifoBinary(t *testing.T) {
	root, cache, _ := mirror(t)
	fifo := filepath.Join(t.TempDir(), "trackers")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "service", serviceBinary(t), nil, "-root", root, "-cache", cache, "-trackers", fifo)
	status, body := rawGet(t, s.url, "/yum/torrent_service/single/yum/iso/boot.iso")
	if status != 200 {
		t.Fatalf("with a fifo for a trackers file: %d %s", status, body)
	}
	s.stop()
	if count(s.log(), "trackers file unreadable") == 0 {
		t.Errorf("no warning about the trackers file:\n%s", s.log())
	}
}
