package main

// BenchmarkFleet is the fleet benchmark of `make bench`: 8 hosts update
// the same transaction at the same time, with the mirror's link limited
// as a real mirror's is, through
//
//	(a) plain dnf from the mirror,
//	(b) the agents, dnf asking for packages as it goes,
//	(c) the agents, with the dnf plugin prefetching the transaction,
//
// and again with overlapping but different transactions (each host a
// random 70 % of the packages). Everything is real: the service behind
// nginx under the shipped configuration, opentracker, the agents' plain
// build with their shipped defaults, dnf 4 and, in (c), the shipped dnf
// plugin.
//
// The network is simulated on this machine with network namespaces: one
// for the mirror (nginx and the service), one for the fleet's tracker
// (opentracker, listed in the mirror's trackers file), one for each host
// (its agent and its dnf), joined by veth links to a bridge in another.
// The tracker is on the fleet's side of the mirror's link, as a fleet
// that updates behind a limited link may run it; -fleet.tracker-at-mirror
// puts it beside the mirror, behind the busy link (cases (b) and (c)
// measured the same there: 1.06 and 1.03 copies, 33 s). tc's token
// bucket (tbf) shapes each link in both directions: the mirror's to
// 100 Mbit/s, each host's to 1 Gbit/s. No delay is added: this
// machine's kernel has no netem (a mirror's round trip of tens of
// milliseconds mostly slows TCP's start, a small part of minutes-long
// downloads). The benchmark itself reaches the namespaces through one
// more veth (unshaped), from this namespace, to read the agents'
// /metrics. All of it is removed at the end, and any leftover of an
// interrupted run at the start.
//
// Printed for each case: the time until the last host's dnf is done, the
// median host's, the mirror's package bytes (from nginx's access log) as
// copies of the package set, the bytes the mirror's link sent in all
// (an independent check, with the torrents, metadata and TCP/IP headers),
// and each host's upload (the agent's count of payload, and its link's).
// Then the targets, MET or NOT MET:
//
//   - (c) brings all 8 hosts through in at most 0.4 of the time of (a);
//   - the mirror sends at most 1.5 copies in (b) and (c);
//   - no host uploads more than 3 copies.
//
// Run it as root (namespaces, tc) with
//
//	cd cmd/pkgtorrent-agent && go test -run '^$' -bench '^BenchmarkFleet$' -benchtime 1x -timeout 60m .
//
// about 7 minutes, most of it case (a). The figures of the latest run
// are in cmd/pkgtorrent-bench/README.md ("The fleet").

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchHosts      = 8
	benchOriginRate = "100mbit"
	benchHostRate   = "1gbit"
	benchTotal      = 200 << 20 // the package set, about
	benchOverlap    = 0.7       // of the packages, each host in the overlap variant
	benchSeed       = 13
	benchNS         = "ptbench-" // prefix of the namespaces
	benchLink       = "ptbench0" // this namespace's end of its veth
	benchNet        = "10.213.77."
)

var (
	fleetCasesFlag       = flag.String("fleet.cases", "", "BenchmarkFleet: run only these cases, numbered 1 to 6, comma-separated (the targets need all six)")
	fleetKeepFlag        = flag.String("fleet.keep", "", "BenchmarkFleet: copy each case's agent and dnf logs into this folder")
	fleetTrackerAtMirror = flag.Bool("fleet.tracker-at-mirror", false, "BenchmarkFleet: run the tracker beside the mirror, behind its limited link")
)

// benchSpec is the benchmark's package set: sizes log-uniform from
// 16 KiB to 16 MiB (most packages small, most bytes in large ones, as in
// a distribution's update), until about benchTotal.
func benchSpec() fleetRepoSpec {
	rng := mrand.New(mrand.NewPCG(benchSeed, benchSeed))
	s := fleetRepoSpec{prefix: "bench-pkg", seed: benchSeed}
	var total int64
	for total < benchTotal {
		n := int64(math.Exp(math.Log(16<<10) + rng.Float64()*(math.Log(16<<20)-math.Log(16<<10))))
		s.sizes = append(s.sizes, n)
		total += n
	}
	return s
}

// fleetLAN is the benchmark's simulated network.
type fleetLAN struct {
	origin, tracker fleetNode
	hosts           []fleetNode
}

// fleetNewLAN makes the namespaces and links, and removes them when the
// benchmark ends.
func fleetNewLAN(b testing.TB, hosts int) *fleetLAN {
	b.Helper()
	ip := fleetNeed(b, "ip")
	fleetNeed(b, "tc")
	run := func(args ...string) {
		b.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	fleetRemoveLAN(ip)
	b.Cleanup(func() { fleetRemoveLAN(ip) })
	sw := benchNS + "sw"
	run("netns", "add", sw)
	run("-n", sw, "link", "add", "br0", "type", "bridge")
	run("-n", sw, "link", "set", "br0", "up")
	var next atomic.Int32
	// node makes namespace name with address .host, linked to the bridge
	// through port, each direction shaped to rate.
	node := func(name string, host int, port, rate string) fleetNode {
		ns := benchNS + name
		run("netns", "add", ns)
		run("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", sw)
		run("-n", sw, "link", "set", port, "master", "br0", "up")
		run("-n", ns, "addr", "add", benchNet+strconv.Itoa(host)+"/24", "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
		run("-n", ns, "link", "set", "lo", "up")
		fleetShape(b, ns, "eth0", rate)
		fleetShape(b, sw, port, rate)
		return fleetNode{ns: ns, addr: benchNet + strconv.Itoa(host), next: &next}
	}
	lan := &fleetLAN{origin: node("origin", 1, "origin", benchOriginRate), tracker: node("tracker", 2, "tracker", benchHostRate)}
	for i := range hosts {
		name := fmt.Sprintf("host%d", i+1)
		lan.hosts = append(lan.hosts, node(name, 11+i, name, benchHostRate))
	}
	run("link", "add", benchLink, "type", "veth", "peer", "name", "bench", "netns", sw)
	run("-n", sw, "link", "set", "bench", "master", "br0", "up")
	run("addr", "add", benchNet+"254/24", "dev", benchLink)
	run("link", "set", benchLink, "up")
	return lan
}

// fleetRemoveLAN removes the namespaces (their links go with them) and
// this namespace's link, of this run or an interrupted one.
func fleetRemoveLAN(ip string) {
	out, _ := exec.Command(ip, "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], benchNS) {
			exec.Command(ip, "netns", "del", f[0]).Run()
		}
	}
	exec.Command(ip, "link", "del", benchLink).Run()
}

// fleetShape limits dev's egress in namespace ns to rate, with a queue of
// at most 20 ms (a mirror's link does not buffer seconds). The burst
// holds a whole GSO segment (64 KiB) of the veth.
func fleetShape(b testing.TB, ns, dev, rate string) {
	b.Helper()
	args := []string{"-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "20ms"}
	if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
		b.Fatalf("tc %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// linkBytes returns the bytes eth0 of node's namespace sent and received.
func (n fleetNode) linkBytes(b testing.TB) (tx, rx int64) {
	b.Helper()
	out, err := exec.Command("ip", "-n", n.ns, "-s", "-j", "link", "show", "eth0").Output()
	if err != nil {
		b.Fatalf("ip -n %s -s -j link show eth0: %v", n.ns, err)
	}
	var links []struct {
		Stats struct {
			RX struct{ Bytes int64 } `json:"rx"`
			TX struct{ Bytes int64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		b.Fatalf("ip -s -j link show eth0 in %s: %v: %s", n.ns, err, out)
	}
	return links[0].Stats.TX.Bytes, links[0].Stats.RX.Bytes
}

// fleetCase is one run of the benchmark.
type fleetCase struct {
	name             string
	agents, prefetch bool
	sets             [][]fleetPkg // each host's transaction
}

// fleetFigures are what one case measured.
type fleetFigures struct {
	times      []time.Duration
	origin     int64         // package bytes nginx sent
	originLink int64         // bytes the mirror's link sent, all of them
	uploaded   []int64       // per host, payload, from the agent's /metrics
	uploadLink []int64       // per host, bytes its link sent
	sources    fleetSources  // the agents' bytes by source, summed
	agentCPU   time.Duration // the agents' CPU time, summed
	dnfCPU     time.Duration // the dnf runs' CPU time, summed
	failed     int           // hosts whose dnf failed
	ran        bool
}

func (f fleetFigures) last() time.Duration { return slices.Max(f.times) }

func (f fleetFigures) median() time.Duration {
	s := slices.Clone(f.times)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// maxUpload is the most any host uploaded, by either count.
func (f fleetFigures) maxUpload() int64 {
	return max(slices.Max(append([]int64{0}, f.uploaded...)), slices.Max(append([]int64{0}, f.uploadLink...)))
}

// fleetBench is the benchmark's set-up, shared by its cases.
type fleetBench struct {
	lan     *fleetLAN
	mirror  *fleetMirror
	tracker *fleetProc
	port    int // the tracker's
	hashes  []string
	agent   string // the agent's binary
	plugin  string // deploy/dnf/pkgtorrent.py
	conf    string // deploy/dnf/pkgtorrent.conf
}

func BenchmarkFleet(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("the fleet benchmark makes network namespaces and shapes their links with tc: run it as root (`make bench` as root)")
	}
	var wg sync.WaitGroup
	wg.Go(func() { fleetOnce.service.run(b, fleetServiceWhat, fleetServiceBuilder(b)) })
	wg.Go(func() { fleetOnce.agent.run(b, fleetAgentWhat, fleetAgentBuilder(b, false)) })
	wg.Go(func() {
		fleetOnce.benchRepo.run(b, "the benchmark's RPMs", fleetRepoBuilder(b, benchSpec(), &fleetBuiltBenchRepo))
	})
	wg.Wait()
	repo := fleetBuiltBenchRepo
	fb := &fleetBench{lan: fleetNewLAN(b, benchHosts), agent: fleetAgentBinary(b, false)}
	if *fleetTrackerAtMirror {
		fb.lan.tracker = fb.lan.origin
	}
	for _, f := range []struct {
		dst  *string
		path string
	}{{&fb.plugin, "../../deploy/dnf/pkgtorrent.py"}, {&fb.conf, "../../deploy/dnf/pkgtorrent.conf"}} {
		text, err := os.ReadFile(f.path)
		if err != nil {
			b.Fatal(err)
		}
		*f.dst = string(text)
	}
	fb.port = fb.lan.tracker.port(b)
	fb.mirror = fleetStartMirrorOn(b, fb.lan.origin, repo, []string{fb.lan.tracker.url(fb.port) + "/announce"})
	// Every torrent is built before the first case (a mirror serving a
	// fleet has them cached), and opentracker tracks only these.
	fb.hashes = fb.mirror.infoHashes(b, fb.mirror.base)

	same := make([][]fleetPkg, benchHosts)
	overlap := make([][]fleetPkg, benchHosts)
	rng := mrand.New(mrand.NewPCG(benchSeed, 70))
	k := int(math.Round(benchOverlap * float64(len(repo.pkgs))))
	for i := range benchHosts {
		same[i] = repo.pkgs
		idx := rng.Perm(len(repo.pkgs))[:k]
		slices.Sort(idx)
		for _, j := range idx {
			overlap[i] = append(overlap[i], repo.pkgs[j])
		}
	}
	cases := []fleetCase{
		{name: "(a) plain dnf", sets: same},
		{name: "(b) agents", agents: true, sets: same},
		{name: "(c) agents + prefetch", agents: true, prefetch: true, sets: same},
		{name: "(a) plain dnf", sets: overlap},
		{name: "(b) agents", agents: true, sets: overlap},
		{name: "(c) agents + prefetch", agents: true, prefetch: true, sets: overlap},
	}
	var figs []fleetFigures
	for b.Loop() {
		figs = make([]fleetFigures, len(cases))
		for i, c := range cases {
			if *fleetCasesFlag != "" && !slices.Contains(strings.Split(*fleetCasesFlag, ","), strconv.Itoa(i+1)) {
				continue
			}
			fmt.Fprintf(os.Stderr, "fleet benchmark: case %d of %d: %s%s\n", i+1, len(cases), c.name, map[bool]string{true: ", 70% overlap"}[i >= 3])
			figs[i] = fb.run(b, i, c)
		}
	}
	fb.report(b, repo, cases, figs, k)
}

// run runs one case on fresh hosts: new agents with empty stores, new dnf
// caches, and a restarted tracker (no peer of an earlier case).
func (fb *fleetBench) run(b *testing.B, index int, c fleetCase) fleetFigures {
	b.Helper()
	if fb.tracker != nil {
		fb.tracker.stop()
	}
	fb.tracker = fleetTrackerOn(b, fb.lan.tracker, fb.port, fb.hashes)
	m := fb.mirror
	var agents []*fleetAgent
	var hosts []*fleetHost
	level := "info"
	if *fleetKeepFlag != "" {
		level = "debug"
	}
	for i, node := range fb.lan.hosts {
		name := fmt.Sprintf("case%d-host%d", index+1, i+1)
		h := fleetNewHost(b, name)
		h.node, h.timeout = node, 15*time.Minute
		urls := []string{m.repoURL(m.base)}
		if c.agents {
			a := fleetStartAgentOn(b, node, fb.agent, name, "", []string{m.base + "/"}, "-log-level", level)
			agents = append(agents, a)
			urls = append([]string{m.agentRepoURL(a.base, m.base)}, urls...)
			if c.prefetch {
				fleetInstallPlugin(b, h, fb.plugin, fb.conf, a.base)
			}
		}
		h.repoFile(b, urls)
		hosts = append(hosts, h)
	}
	off := m.logOffset(b)
	originTx, _ := fb.lan.origin.linkBytes(b)
	hostTx := make([]int64, len(hosts))
	for i, h := range hosts {
		hostTx[i], _ = h.node.linkBytes(b)
	}
	dnf := fleetNeed(b, "dnf")
	f := fleetFigures{times: make([]time.Duration, len(hosts))}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		var names []string
		for _, p := range c.sets[i] {
			names = append(names, p.name)
		}
		wg.Go(func() { f.times[i], errs[i] = h.install(context.Background(), dnf, names) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			f.failed++
			b.Errorf("%v\n%s", err, fleetTail(hosts[i].log, 3000))
		}
	}
	for i, h := range hosts {
		h.checkPackages(b, c.sets[i])
		f.dnfCPU += h.cpu
	}
	ob := m.originBytes(b, off)
	f.origin = ob.total
	tx, _ := fb.lan.origin.linkBytes(b)
	f.originLink = tx - originTx
	for i, h := range hosts {
		tx, _ := h.node.linkBytes(b)
		f.uploadLink = append(f.uploadLink, tx-hostTx[i])
	}
	for _, a := range agents {
		s := a.sources(b)
		f.uploaded = append(f.uploaded, int64(s.uploaded))
		f.sources.peers += s.peers
		f.sources.origin += s.origin
		f.sources.fallback += s.fallback
		f.sources.uploaded += s.uploaded
		f.agentCPU += fleetCPU(b, a.proc.cmd.Process.Pid)
		a.proc.stop()
	}
	if dir := *fleetKeepFlag; dir != "" {
		for i, h := range hosts {
			dst := filepath.Join(dir, fmt.Sprintf("case%d", index+1))
			os.MkdirAll(dst, 0o755)
			exec.Command("cp", h.log, filepath.Join(dst, h.name+".dnf.log")).Run()
			if i < len(agents) {
				exec.Command("cp", agents[i].log, filepath.Join(dst, h.name+".agent.log")).Run()
			}
		}
		var per strings.Builder
		for _, p := range m.repo.pkgs {
			fmt.Fprintf(&per, "%s %d %.2f\n", p.file, p.size, float64(ob.perFile[m.repo.urlPath(p)])/float64(p.size))
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("case%d", index+1), "origin-per-file.txt"), []byte(per.String()), 0o644)
	}
	// The next case starts on a quiet disk: this one's stores and dnf
	// caches (3.3 GB) removed and written back.
	for i, h := range hosts {
		os.RemoveAll(h.dir)
		if i < len(agents) {
			os.RemoveAll(filepath.Dir(agents[i].log))
		}
	}
	exec.Command("sync").Run()
	f.ran = true
	return f
}

// report prints the figures and the targets.
func (fb *fleetBench) report(b *testing.B, repo *fleetRepo, cases []fleetCase, figs []fleetFigures, k int) {
	copies := func(n int64) float64 { return float64(n) / float64(repo.total) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	var out bytes.Buffer
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&out, "\n# fleet benchmark %s: %d hosts; the mirror's link %s, each host's and the tracker's %s; load %s\n",
		time.Now().UTC().Format("2006-01-02 15:04"), benchHosts, benchOriginRate, benchHostRate,
		strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(&out, "# package set: %d RPMs, %.1f MiB (one copy); overlap variant: %d of them a host, at random\n\n",
		len(repo.pkgs), float64(repo.total)/(1<<20), k)
	fmt.Fprintf(&out, "| case | last host | median host | mirror: packages (copies) | mirror link sent (copies) | agents' bytes from peers, mirror, fallback (copies) | CPU: dnf, agents | upload per host, copies: agent's count (link) |\n")
	fmt.Fprintf(&out, "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, c := range cases {
		f := figs[i]
		if !f.ran {
			continue
		}
		name := c.name
		if i >= 3 {
			name += ", 70% overlap"
		}
		up := "none"
		if c.agents {
			var parts []string
			for j := range f.uploaded {
				parts = append(parts, fmt.Sprintf("%.2f (%.2f)", copies(f.uploaded[j]), copies(f.uploadLink[j])))
			}
			up = strings.Join(parts, ", ")
		}
		fail := ""
		if f.failed > 0 {
			fail = fmt.Sprintf(" (%d dnf FAILED)", f.failed)
		}
		src, cpu := "-", secs(f.dnfCPU)+", -"
		if c.agents {
			cpu = secs(f.dnfCPU) + ", " + secs(f.agentCPU)
			src = fmt.Sprintf("%.2f, %.2f, %.2f", f.sources.peers/float64(repo.total), f.sources.origin/float64(repo.total), f.sources.fallback/float64(repo.total))
		}
		fmt.Fprintf(&out, "| %s%s | %s | %s | %.2f | %.2f | %s | %s | %s |\n", name, fail, secs(f.last()), secs(f.median()),
			copies(f.origin), copies(f.originLink), src, cpu, up)
	}
	fmt.Fprintf(&out, "\n")
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	for v, variant := range []string{"same transaction", "70% overlap"} {
		a, bb, c := figs[3*v], figs[3*v+1], figs[3*v+2]
		if !a.ran || !bb.ran || !c.ran {
			fmt.Fprintf(&out, "%s: targets not evaluated: not every case ran\n", variant)
			continue
		}
		ratio := c.last().Seconds() / a.last().Seconds()
		fmt.Fprintf(&out, "%s: (c) last host %s = %.2f of (a) %s, target <= 0.40: %s\n", variant, secs(c.last()), ratio, secs(a.last()), verdict(ratio <= 0.4 && c.failed == 0))
		for _, x := range []struct {
			name string
			f    fleetFigures
		}{{"(b)", bb}, {"(c)", c}} {
			fmt.Fprintf(&out, "%s: %s mirror sent %.2f copies, target <= 1.5: %s\n", variant, x.name, copies(x.f.origin), verdict(copies(x.f.origin) <= 1.5 && x.f.failed == 0))
			fmt.Fprintf(&out, "%s: %s most any host uploaded %.2f copies, target <= 3: %s\n", variant, x.name, copies(x.f.maxUpload()), verdict(copies(x.f.maxUpload()) <= 3))
		}
		if v == 0 {
			b.ReportMetric(a.last().Seconds(), "a-last-s")
			b.ReportMetric(c.last().Seconds(), "c-last-s")
			b.ReportMetric(ratio, "c/a")
			b.ReportMetric(copies(bb.origin), "b-mirror-copies")
			b.ReportMetric(copies(c.origin), "c-mirror-copies")
			b.ReportMetric(copies(max(bb.maxUpload(), c.maxUpload())), "max-upload-copies")
		}
	}
	os.Stdout.Write(out.Bytes())
}

// fleetCPU returns the CPU time (user and system) process pid has used.
func fleetCPU(b testing.TB, pid int) time.Duration {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command's name, which is in parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, stat)
	}
	// utime and stime, fields 14 and 15, in clock ticks (100 a second
	// on Linux).
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, stat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
