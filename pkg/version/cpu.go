package version

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// CPU names the machine's processor as the OS reports it (the first
// "model name" of /proc/cpuinfo, with its family and model numbers where
// given) and the cores the process may use, for figures and choices that
// depend on it: for example "AMD EPYC (family 26, model 2), 2 cores".
// Where the OS says nothing, it names the architecture alone.
func CPU() string {
	name := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		name = cpuName(bufio.NewScanner(f), name)
	}
	return name + ", " + strconv.Itoa(runtime.GOMAXPROCS(0)) + " cores"
}

// cpuName reads the first processor's lines of /proc/cpuinfo.
func cpuName(s *bufio.Scanner, name string) string {
	var family, model string
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			if strings.TrimSpace(s.Text()) == "" {
				break // the end of the first processor's lines
			}
			continue
		}
		switch k, v = strings.TrimSpace(k), strings.TrimSpace(v); k {
		case "model name":
			name = v
		case "cpu family":
			family = v
		case "model":
			model = v
		}
	}
	if family != "" && model != "" {
		name += " (family " + family + ", model " + model + ")"
	}
	return name
}
