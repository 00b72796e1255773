package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Bytes(0), "0 B"},
		{Bytes(1023), "1023 B"},
		{Bytes(1536), "1.5 KiB"},
		{Bytes(9752345), "9.3 MiB"},
		{Bytes(3 << 40), "3.0 TiB"},
		{Rate(10<<20, 2*time.Second), "5.0 MiB/s"},
		{Rate(1, 0), "-"},
		{Clock(75 * time.Second), "1:15"},
		{Clock(3*time.Hour + 2*time.Minute + 1*time.Second), "3:02:01"},
		{Duration(1234567 * time.Microsecond), "1.23s"},
		{Duration(215400 * time.Microsecond), "215ms"},
		{Duration(90 * time.Second), "1m30s"},
		{Bar(12, 5, 10), "[#####.....]"},
		{Bar(12, 20, 10), "[##########]"},
		{Bar(6, 0, 0), "[####]"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the meter's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestMeter(t *testing.T) {
	var out syncBuffer
	var mu sync.Mutex
	text := "first"
	m := Start(&out, 10, func(width int) string {
		mu.Lock()
		defer mu.Unlock()
		return text + " of a line longer than the width"
	})
	mu.Lock()
	text = "last"
	mu.Unlock()
	m.Stop()
	m.Stop()
	got := out.b.String()
	if !strings.HasPrefix(got, "\rfirst of \x1b[K") || !strings.HasSuffix(got, "\rlast of a\x1b[K\n") {
		t.Errorf("meter wrote %q; want lines cut to 9 columns, each redrawn from column 0, a newline at the end", got)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Errorf("a regular file is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) {
		t.Errorf("a pipe is a terminal")
	}
	if Width(w) != 80 {
		t.Errorf("width of a pipe: %d, want 80", Width(w))
	}
}
