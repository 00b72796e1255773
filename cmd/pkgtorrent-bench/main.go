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
	"regexp"
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

// sha1Limit measures crypto/sha1 on one core and returns bytes/s for all
// of GOMAXPROCS.
func sha1Limit() float64 {
	buf := make([]byte, 1<<20)
	t := time.Now()
	n := 0
	for time.Since(t) < 300*time.Millisecond {
		sha1.Sum(buf)
		n++
	}
	return float64(n<<20) / time.Since(t).Seconds() * float64(runtime.GOMAXPROCS(0))
}

// serviceHashing returns the hashing path the service binary bin
// chooses on this machine, with its reason (pkgtorrent-service version -v).
func serviceHashing(bin string) (string, error) {
	out, err := exec.Command(bin, "version", "-v").Output()
	if err != nil {
		return "", fmt.Errorf("%s version -v: %w", bin, err)
	}
	for l := range strings.Lines(string(out)) {
		if h, ok := strings.CutPrefix(l, "hashing: "); ok {
			return strings.TrimSpace(h), nil
		}
	}
	return "", fmt.Errorf("%s version -v names no hashing path: %q", bin, out)
}

// coldSingle is target 1: one 2 GiB file in the page cache, hashed by the
// service (fresh cache and process) and by mktorrent, alternating.
func (b *bench) coldSingle() error {
	say("target 1: cold hashing of %s", bigFile)
	o, m, err := b.coldRuns(filepath.Dir(bigFile), bigFile, func() error {
		_, err := b.get("/yum/torrent_service/single/" + bigFile)
		return err
	})
	if err != nil {
		return err
	}
	size := float64(2 << 30)
	limit := sha1Limit()
	b.out("1 cold, one 2 GiB file:     service %6.3f s  mktorrent -t 2 %6.3f s  ratio %.2f (target <= 0.40)  %s; %.2f GB/s = %.0f%% of crypto/sha1 (SHA-NI) on %d cores, %.2f GB/s; the service hashes along %s",
		o, m, o/m, verdict(o/m <= 0.4), size/o/1e9, 100*size/o/limit, runtime.GOMAXPROCS(0), limit/1e9, strings.Fields(b.hashing)[0])
	return nil
}

// coldMany is target 2: the packages as one digest against mktorrent on
// their folder.
func (b *bench) coldMany() error {
	say("target 2: cold hashing of %d packages", numPkgs)
	o, m, err := b.coldRuns(pkgDir, pkgDir, func() error {
		_, _, err := b.post(pkgPaths())
		return err
	})
	if err != nil {
		return err
	}
	b.coldManySec = o
	var total int64
	for _, s := range pkgSizes() {
		total += s
	}
	b.out("2 cold, %d packages (%.2f GiB): service %6.3f s  mktorrent -t 2 %6.3f s  ratio %.2f (target <= 0.67)  %s",
		numPkgs, float64(total)/(1<<30), o, m, o/m, verdict(o/m <= 2.0/3))
	return nil
}

// coldRuns warms the page cache with the files under the mirror's folder
// dir, then times, b.runs times, request (the service with a fresh cache
// and process) alternating with mktorrent on the mirror's target, and
// returns both medians in seconds.
func (b *bench) coldRuns(dir, target string, request func() error) (ours, theirs float64, err error) {
	if err := warmPageCache(filepath.Join(b.mirror, dir)); err != nil {
		return 0, 0, err
	}
	var o, m []float64
	for range b.runs {
		if err := b.svc.start(true); err != nil {
			return 0, 0, err
		}
		t := time.Now()
		if err := request(); err != nil {
			return 0, 0, err
		}
		o = append(o, time.Since(t).Seconds())
		sec, _, err := b.mktorrent(filepath.Join(b.mirror, target))
		if err != nil {
			return 0, 0, err
		}
		m = append(m, sec)
	}
	return median(o), median(m), nil
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk loads url with 16 connections and returns requests per second.
func (b *bench) wrk(url string) (float64, error) {
	out, err := exec.Command("wrk", "-c", "16", "-t", "2", "-d", fmt.Sprintf("%ds", int(b.wrkTime.Seconds())), url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %w: %s", url, err, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no Requests/sec in %q", url, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk %s: errors: %s", url, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// startNginx (re)starts nginx, with the shipped configuration's
// micro-cache or without it.
func (b *bench) startNginx(cache bool) error {
	b.ngx.stop()
	b.ngx = nil
	p, base, err := startNginx(b.nginxConf, cache)
	if err != nil {
		return err
	}
	b.ngx, b.base = p, base
	return nil
}

// warm is target 3: cached torrents through nginx and FastCGI against
// the same bytes as a static file from the same nginx, in two
// configurations: kept FastCGI connections without nginx's micro-cache
// (every request reaches the service), and the shipped configuration,
// whose fastcgi_cache answers repeated requests within the max-age the
// service gives (at most its revalidate setting, 1m), then revalidates
// them with a conditional request.
func (b *bench) warm() error {
	say("target 3: warm requests, wrk -c 16")
	if err := b.svc.start(false); err != nil {
		return err
	}
	_, digest, err := b.post(pkgPaths())
	if err != nil {
		return err
	}
	cases := []struct{ name, path, static string }{
		{"digest of the packages", "/yum/torrent_service/digest/" + digest, "yum/static/packages.torrent"},
		{"single 2 GiB file", "/yum/torrent_service/single/" + bigFile, "yum/static/big.torrent"},
	}
	for _, c := range cases {
		body, err := b.get(c.path)
		if err != nil {
			return err
		}
		file := filepath.Join(b.mirror, c.static)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, body, 0o644); err != nil {
			return err
		}
	}
	for _, conf := range []struct {
		label  string
		cache  bool
		target float64 // of nginx's req/s for the static file
	}{{"kept FastCGI connections, no cache", false, 0.5}, {"shipped config, nginx fastcgi_cache", true, 0.9}} {
		if err := b.startNginx(conf.cache); err != nil {
			return err
		}
		for _, c := range cases {
			body, err := b.get(c.path)
			if err != nil {
				return err
			}
			var ours, theirs []float64
			for range b.runs {
				o, err := b.wrk(b.base + c.path)
				if err != nil {
					return err
				}
				s, err := b.wrk(b.base + "/" + c.static)
				if err != nil {
					return err
				}
				ours, theirs = append(ours, o), append(theirs, s)
			}
			o, s := median(ours), median(theirs)
			b.out("3 warm, %-22s (%3d KB), %-36s: service %8.0f req/s  nginx static %8.0f req/s  ratio %.2f (target >= %.2f)  %s",
				c.name, len(body)/1000, conf.label, o, s, o/s, conf.target, verdict(o/s >= conf.target))
		}
	}
	// The other targets measure the service: no cache in front.
	return b.startNginx(false)
}

// newCombination is target 4: a digest of all packages but one, with the
// piece caches warm and the info cache cold, against hashing them cold.
// Each run leaves out another package, so each is a new torrent.
func (b *bench) newCombination() error {
	say("target 4: a new combination of hashed files")
	var ours []float64
	for i := range b.runs {
		paths := pkgPaths()
		paths = slices.Delete(paths, 100*i+7, 100*i+8)
		t := time.Now()
		if _, _, err := b.post(paths); err != nil {
			return err
		}
		ours = append(ours, time.Since(t).Seconds())
	}
	o := median(ours)
	b.out("4 new combination, %d of %d: service %6.3f s  cold hashing %6.3f s  ratio %.4f (target < 0.02)  %s",
		numPkgs-1, numPkgs, o, b.coldManySec, o/b.coldManySec, verdict(o/b.coldManySec < 0.02))
	return nil
}

// memory is target 5: the service's peak RSS while hashing one file, in
// a fresh process, beside mktorrent's.
func (b *bench) memory() error {
	for _, f := range []struct {
		rel  string
		size string
	}{{midFile, "512 MiB"}, {hugeFile, "4 GiB"}} {
		say("target 5: memory while hashing %s", f.rel)
		if err := warmPageCache(filepath.Join(b.mirror, f.rel)); err != nil {
			return err
		}
		if err := b.svc.start(true); err != nil {
			return err
		}
		if _, err := b.get("/yum/torrent_service/single/" + f.rel); err != nil {
			return err
		}
		rss, err := b.svc.p.peakRSS()
		if err != nil {
			return err
		}
		_, theirs, err := b.mktorrent(filepath.Join(b.mirror, f.rel))
		if err != nil {
			return err
		}
		b.out("5 memory, hashing %-7s:   service peak RSS %5.1f MiB  mktorrent %5.1f MiB  (target <= 48 MiB)  %s",
			f.size, float64(rss)/(1<<20), float64(theirs)/(1<<20), verdict(rss <= 48<<20))
	}
	return nil
}
