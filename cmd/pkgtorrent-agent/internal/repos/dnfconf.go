package repos

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// MaxParallelDownloads is dnf's max_parallel_downloads, from the [main]
// section of the dnf.conf at path: dnf's default, 3, when the file or the
// key is missing. dnf takes 1 to 20.
func MaxParallelDownloads(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 3, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, main := 3, false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
		case t[0] == '[':
			main = strings.TrimSpace(strings.Trim(t, "[]")) == "main"
		case main:
			k, v, ok := strings.Cut(t, "=")
			if !ok || strings.TrimSpace(k) != "max_parallel_downloads" {
				continue
			}
			if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > 20 {
				return 0, fmt.Errorf("%s:%d: max_parallel_downloads %q: want 1 to 20", path, line, strings.TrimSpace(v))
			}
		}
	}
	return n, sc.Err()
}
