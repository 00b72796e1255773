// Command pkgtorrent-bench measures pkgtorrent-service against what a
// mirror would use instead, side by side in one run: mktorrent for cold
// hashing, nginx serving the same bytes as a static file for repeated
// requests. It prints one line per target of the performance issue with
// both figures and their ratio. `make bench` runs it; it generates its
// data under -dir once and starts (and stops) the service, nginx, wrk and
// mktorrent on loopback.
package main

import (
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/version"
)

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pkgtorrent-bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	dir, mirror, work string
	hashing           string // the service's hashing path and why (version -v)
	svc               *service
	nginxConf         nginxConf
	ngx               *proc
	base              string // nginx
	runs              int
	wrkTime           time.Duration
	client            *http.Client
	coldManySec       float64 // target 2, for target 4
}

func run() error {
	dir := flag.String("dir", ".bench", "folder for the generated data and the servers' files")
	bin := flag.String("bin", "bin/pkgtorrent-service", "the service's binary")
	snippet := flag.String("nginx-conf", "httpd-conf/nginx-pkgtorrent-service.conf", "the operator's nginx snippet (server {})")
	httpConf := flag.String("nginx-http-conf", "httpd-conf/nginx-pkgtorrent-service-http.conf", "its http {} part: the upstream")
	runs := flag.Int("runs", 3, "timed runs per side (medians are reported)")
	wrkTime := flag.Duration("wrk-time", 4*time.Second, "duration of one wrk run")
	only := flag.String("targets", "1,2,3,4,5", "comma-separated targets to run (4 needs 2)")
	hashPath := flag.String("hash-path", "auto", "the service's hash-path setting: auto, or a path to compare against the one it measures fastest")
	flag.Parse()
	for _, tool := range []string{"mktorrent", "wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (make bench-deps installs it): %w", tool, err)
		}
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	binAbs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	b := &bench{dir: abs, mirror: filepath.Join(abs, "mirror"), work: filepath.Join(abs, "work"),
		runs: *runs, wrkTime: *wrkTime, client: &http.Client{Timeout: 10 * time.Minute}}
	if err := makeData(b.mirror); err != nil {
		return err
	}
	if err := os.RemoveAll(b.work); err != nil {
		return err
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.work, "trackers"), []byte("udp://tracker.example.org:6969/announce\nhttp://tracker.example.net/announce\n"), 0o644); err != nil {
		return err
	}
	b.svc = &service{bin: binAbs, dir: b.work, mirror: b.mirror, sock: filepath.Join(b.work, "fcgi.sock"), hashPath: *hashPath}
	if err := b.svc.start(true); err != nil {
		return err
	}
	defer func() {
		b.svc.p.stop()
		if err := b.svc.removeOldCaches(); err != nil {
			say("removing the old caches: %v", err)
		}
	}()
	b.nginxConf = nginxConf{dir: b.work, mirror: b.mirror, snippet: *snippet, httpPart: *httpConf, sock: b.svc.sock}
	// Every target but the second half of 3 measures the service itself:
	// nginx without its micro-cache in front.
	if err := b.startNginx(false); err != nil {
		return err
	}
	defer func() { b.ngx.stop() }()

	load, _ := os.ReadFile("/proc/loadavg")
	b.out("# pkgtorrent-bench %s, %d CPUs (GOMAXPROCS %d), load %s, median of %d alternating runs per side",
		time.Now().Format(time.DateTime), runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "), b.runs)
	b.out("# cpu: %s", version.CPU())
	if b.hashing, err = serviceHashing(binAbs); err != nil {
		return err
	}
	if *hashPath != "auto" {
		b.hashing = *hashPath + " (set by -hash-path; the service measured: " + b.hashing + ")"
	}
	b.out("# the service's hashing path: %s", b.hashing)
	steps := []func() error{b.coldSingle, b.coldMany, b.warm, b.newCombination, b.memory}
	for i, step := range steps {
		if !slices.Contains(strings.Split(*only, ","), strconv.Itoa(i+1)) {
			continue
		}
		if err := step(); err != nil {
			return err
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	b.out("# load at the end %s", strings.Join(strings.Fields(string(load))[:3], " "))
	if logs, err := os.ReadFile(filepath.Join(b.work, "error.log")); err == nil && strings.Contains(string(logs), "upstream response is buffered to a temporary file") {
		b.out("# WARNING: nginx buffered a FastCGI response to a temporary file (see %s/error.log)", b.work)
	}
	return nil
}

// out prints a result line on stdout.
func (b *bench) out(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// mktorrent times mktorrent -l 20 -t 2 on target and returns seconds and
// its peak RSS. GNU time starts it and reports its peak: Go starts
// children with clone(CLONE_VM), so a child's own rusage also holds this
// process's resident set at the fork; time forks with a copy of its own
// small address space instead.
func (b *bench) mktorrent(target string) (float64, int64, error) {
	out := filepath.Join(b.work, "mktorrent.torrent")
	peak := filepath.Join(b.work, "mktorrent.rss")
	os.Remove(out)
	cmd := exec.Command("/usr/bin/time", "-f", "%M", "-o", peak,
		"mktorrent", "-l", "20", "-t", "2", "-a", "http://tracker.example.org/announce", "-o", out, target)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("mktorrent %s: %w: %s", target, err, stderr.String())
	}
	sec := time.Since(t).Seconds()
	text, err := os.ReadFile(peak)
	if err != nil {
		return 0, 0, fmt.Errorf("GNU time's report of mktorrent (install the Debian package time): %w", err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("GNU time's report of mktorrent: %q: %w", text, err)
	}
	return sec, kib << 10, nil
}

// get fetches base+path and returns the body, failing unless 200.
func (b *bench) get(path string) ([]byte, error) {
	return b.do(http.NewRequest(http.MethodGet, b.base+path, nil))
}

func (b *bench) do(req *http.Request, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.200s", req.Method, req.URL, resp.Status, body)
	}
	return body, nil
}

// post asks for the digest torrent of paths (relative to the mirror).
func (b *bench) post(paths []string) ([]byte, string, error) {
	abs := make([]string, len(paths))
	for i, p := range paths {
		abs[i] = "/" + p
	}
	slices.Sort(abs)
	sum := sha1.Sum([]byte(strings.Join(abs, "\n")))
	digest := hex.EncodeToString(sum[:])
	form := url.Values{"p": abs}
	req, err := http.NewRequest(http.MethodPost, b.base+"/yum/torrent_service/digest/"+digest, strings.NewReader(form.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	body, err := b.do(req, err)
	return body, digest, err
}

func pkgPaths() []string {
	paths := make([]string, numPkgs)
	for i := range paths {
		paths[i] = pkgDir + "/" + pkgName(i)
	}
	return paths
}
