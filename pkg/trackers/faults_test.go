package trackers

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaultyFiles gives the trackers file every shape a broken or hostile
// deployment could give it. URLs must never block, and must give the
// valid URLs the file holds (or none), with a bounded number of warnings.
func TestFaultyFiles(t *testing.T) {
	const good = "udp://tracker.example:6969/announce"
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, path string)
		want  []string
		warns int // at most
	}{
		{"missing", func(t *testing.T, path string) {}, nil, 1},
		{"folder", func(t *testing.T, path string) { os.Mkdir(path, 0o755) }, nil, 1},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, 1},
		{"device", func(t *testing.T, path string) { os.Symlink("/dev/zero", path) }, nil, 1},
		{"dangling symlink", func(t *testing.T, path string) { os.Symlink("/nonexistent/trackers", path) }, nil, 1},
		{"binary garbage", func(t *testing.T, path string) { os.WriteFile(path, garbage(64<<10), 0o644) }, nil, maxSkipWarnings + 2},
		{"garbage around a URL", func(t *testing.T, path string) {
			b := append(garbage(4<<10), "\n"+good+"\n"...)
			os.WriteFile(path, append(b, garbage(4<<10)...), 0o644)
		}, []string{good}, maxSkipWarnings + 2},
		{"NUL bytes in a line", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("udp://a.example:1/\x00announce\n"+good+"\n"), 0o644)
		}, []string{good}, 2},
		{"huge, valid URL first", func(t *testing.T, path string) {
			var b bytes.Buffer
			b.WriteString(good + "\n")
			for b.Len() < 8<<20 {
				b.WriteString("# padding padding padding padding padding padding\n")
			}
			os.WriteFile(path, b.Bytes(), 0o644)
		}, []string{good}, 2},
		{"one line of 5 MiB", func(t *testing.T, path string) {
			os.WriteFile(path, append([]byte(good+"\n"), bytes.Repeat([]byte("x"), 5<<20)...), 0o644)
		}, []string{good}, 3},
		{"100000 bad lines", func(t *testing.T, path string) {
			os.WriteFile(path, bytes.Repeat([]byte("ftp://x.example/\n"), 100000), 0o644)
		}, nil, maxSkipWarnings + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trackers")
			tc.make(t, path)
			var logs bytes.Buffer
			l := New(path, time.Minute, 0, slog.New(slog.NewTextHandler(&logs, nil)))
			got := make(chan []string, 1)
			go func() { got <- l.URLs() }()
			select {
			case urls := <-got:
				if !slices.Equal(urls, tc.want) {
					t.Errorf("URLs() = %q, want %q", urls, tc.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("URLs() blocked on a %s", tc.name)
			}
			if n := strings.Count(logs.String(), "level=WARN"); n > tc.warns {
				t.Errorf("%d warnings, want at most %d:\n%.2000s", n, tc.warns, logs.String())
			}
		})
	}
}
