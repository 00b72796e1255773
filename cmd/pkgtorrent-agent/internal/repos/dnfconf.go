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

// DnfMain is what repos needs of dnf.conf's [main] section.
type DnfMain struct {
	// MaxParallelDownloads is max_parallel_downloads: 1 to 20, 3 by
	// default.
	MaxParallelDownloads int
	// IPResolve is ip_resolve as dnf reads it: "4", "6" or "" (both).
	IPResolve string
}

// ReadDnfConf reads the [main] section of the dnf.conf at path; dnf's
// defaults when the file or a key is missing.
func ReadDnfConf(path string) (DnfMain, error) {
	d := DnfMain{MaxParallelDownloads: 3}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	defer f.Close()
	main := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
		case t[0] == '[':
			main = strings.TrimSpace(strings.Trim(t, "[]")) == "main"
		case main:
			k, v, ok := strings.Cut(t, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case !ok:
			case k == "max_parallel_downloads":
				if d.MaxParallelDownloads, err = strconv.Atoi(v); err != nil || d.MaxParallelDownloads < 1 || d.MaxParallelDownloads > 20 {
					return d, fmt.Errorf("%s:%d: max_parallel_downloads %q: want 1 to 20", path, line, v)
				}
			case k == "ip_resolve":
				switch strings.ToLower(v) {
				case "4", "ipv4":
					d.IPResolve = "4"
				case "6", "ipv6":
					d.IPResolve = "6"
				default:
					d.IPResolve = ""
				}
			}
		}
	}
	return d, sc.Err()
}
