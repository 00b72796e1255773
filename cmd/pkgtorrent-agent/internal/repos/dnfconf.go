package repos

import (
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

// ReadDnfConf reads the [main] section of the dnf.conf at path (with the
// repo files' parser); dnf's defaults when the file or a key is missing.
func ReadDnfConf(path string) (DnfMain, error) {
	d := DnfMain{MaxParallelDownloads: 3}
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	main, err := MainProxy(src)
	if err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	if v, ok := main["max_parallel_downloads"]; ok {
		if d.MaxParallelDownloads, err = strconv.Atoi(v); err != nil || d.MaxParallelDownloads < 1 || d.MaxParallelDownloads > 20 {
			return d, fmt.Errorf("%s: max_parallel_downloads %q: want 1 to 20", path, v)
		}
	}
	switch strings.ToLower(main["ip_resolve"]) {
	case "4", "ipv4":
		d.IPResolve = "4"
	case "6", "ipv6":
		d.IPResolve = "6"
	}
	return d, nil
}
