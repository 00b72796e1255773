package main

// The five comparisons of make bench, each against mktorrent or static
// nginx on the same data, and what they measure with.

import (
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
	// The same, each run's cache deleted just before it, as a mirror's
	// gc or an operator clearing a cache would: on ext4 without a
	// journal, new inodes are then slow to allocate (see Method).
	b.svc.deleteOld = true
	defer func() { b.svc.deleteOld = false }()
	o, m, err = b.coldRuns(pkgDir, pkgDir, func() error {
		_, _, err := b.post(pkgPaths())
		return err
	})
	if err != nil {
		return err
	}
	b.out("2 cold, the same right after the previous cache was deleted: service %6.3f s  mktorrent -t 2 %6.3f s  ratio %.2f (target <= 0.67)  %s",
		o, m, o/m, verdict(o/m <= 2.0/3))
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
		// The service writes its piece cache entries after answering;
		// mktorrent gets the cores only once that is done.
		if err := b.svc.p.waitIdle(); err != nil {
			return 0, 0, err
		}
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
