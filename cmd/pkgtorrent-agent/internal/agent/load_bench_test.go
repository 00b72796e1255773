package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// BenchmarkHTTPUnderLoad: three agents (each a pkgtorrent-agent process,
// as on three hosts) found through opentracker fetch the same 48
// packages of 8 MiB (384 MiB) at once, each request after request, eight
// at a time, with pieces from each other and from the mirror; meanwhile
// curl (a process of its own, as dnf and Prometheus are) times the first
// byte of /status, /metrics and a pass-through (a repomd.xml of 4 KiB)
// on one of them, and of the same file straight from the mirror
// (mirror-), one round after the other. That agent's store holds 500
// finished torrents besides. It reports the slowest answer of each
// (status-max-ms, metrics-max-ms, passthrough-max-ms) and the 99th
// percentile (-p99-ms). Issue 20's bound: 100 ms.
//
// The three agents, the mirror, opentracker, curl and this process's
// clients share the machine's cores, where a host of a fleet has its own:
// every answer's time includes the wait for a core, which the mirror's
// own answers show beside. Sub-benchmark nice=0 runs every process alike;
// nice=-10 gives the probed agent's threads the cores first (root only),
// as when the other hosts and the mirror are other machines: the probed
// agent's own load is the same.
//
// 2026-12-07, AMD EPYC family 25, 2 cores, two runs of -benchtime 3x:
// slowest /status, /metrics, pass-through 115, 113, 155 and 96, 146,
// 114 ms at nice=0 (99th percentile 45 to 88 ms; the mirror's slowest 9
// and 12 ms); 73, 57, 54 and 38, 45, 52 ms at nice=-10 (17 to 24 ms).
func BenchmarkHTTPUnderLoad(b *testing.B) {
	const files, size = 48, 8 << 20
	var names []string
	root := b.TempDir()
	for i := range files {
		names = append(names, fmt.Sprintf("load%02d-1-1.noarch.rpm", i))
		writeRandom(b, root, pkgDir+names[i], size)
	}
	writeRandom(b, root, loadRepomd, 4<<10)
	m, _ := startTrackedMirror(b, root, nil, names...)
	// The probed agent's store holds 500 finished torrents besides, as a
	// host's does after a while.
	stored, _, _ := finishedStores(b, 500, 16<<10, 1)
	for _, nice := range []int{0, -10} {
		b.Run(fmt.Sprintf("nice=%d", nice), func(b *testing.B) {
			if nice < 0 && os.Geteuid() != 0 {
				b.Skip("a negative nice needs root")
			}
			benchHTTPUnderLoad(b, m, names, size, stored[0], nice)
		})
	}
}

const loadRepomd = "/yum/el9/x86_64/repodata/repomd.xml"

// benchHTTPUnderLoad is a run of BenchmarkHTTPUnderLoad: the probed agent
// starts on a copy of store, at nice.
func benchHTTPUnderLoad(b *testing.B, m *mirror, names []string, size int64, stored string, nice int) {
	const hosts, atOnce = 3, 8
	curl := e2e.Need(b, "curl")
	bin := e2e.GoBinary(b, e2e.Agent)
	probeNames := []string{"status", "metrics", "passthrough", "mirror"}
	timings := map[string][]time.Duration{}
	run := 0
	for b.Loop() {
		run++
		var agents []*fleet.Agent
		for i := range hosts {
			store := ""
			if i == 1 {
				store = b.TempDir()
				if err := os.CopyFS(store, os.DirFS(stored)); err != nil {
					b.Fatal(err)
				}
			}
			agents = append(agents, fleet.StartAgent(b, bin, fmt.Sprintf("load%d-host%d", run, i+1), store, []string{m.base},
				"-stall", "30s", "-log-level", "info"))
		}
		probed := agents[1]
		if nice != 0 {
			renice(b, probed.Proc.Cmd.Process.Pid, nice)
		}
		e2e.Wait(b, "every stored torrent seeding", 2*time.Minute, func() error {
			if st, err := statusAt(probed.Base); err != nil || st.Totals.Seeding != 500 {
				return fmt.Errorf("%d of 500 seeding (%v)", st.Totals.Seeding, err)
			}
			return nil
		}, probed.Proc)
		urls := []string{probed.Base + "/status", probed.Base + "/metrics",
			probed.Base + "/m/" + stringsReplaceScheme(m.base+loadRepomd), m.base + loadRepomd}
		stop := make(chan struct{})
		probes := sync.WaitGroup{}
		probes.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := curlFirstBytes(curl, urls)
				if err != nil {
					b.Error(err)
					return
				}
				for k, d := range got {
					timings[probeNames[k]] = append(timings[probeNames[k]], d)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		start := time.Now()
		var wg sync.WaitGroup
		for _, a := range agents {
			work := make(chan string)
			for range atOnce {
				wg.Go(func() {
					for n := range work {
						resp, err := http.Get(a.Base + "/m/" + stringsReplaceScheme(m.base+"/"+pkgDir+n))
						if err != nil {
							b.Errorf("%s: %v", n, err)
							continue
						}
						got, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if got != size {
							b.Errorf("%s: %d bytes, want %d", n, got, size)
						}
					}
				})
			}
			go func() {
				for _, n := range names {
					work <- n
				}
				close(work)
			}()
		}
		wg.Wait()
		took := time.Since(start)
		close(stop)
		probes.Wait()
		var line []string
		for _, a := range agents {
			line = append(line, a.Name+": "+a.Sources(b).String())
			a.Proc.StopClean(b)
		}
		b.Logf("run %d, %v: %s", run, took.Round(time.Millisecond), strings.Join(line, "; "))
	}
	for _, name := range probeNames {
		d := timings[name]
		slices.Sort(d)
		if len(d) == 0 {
			continue
		}
		b.ReportMetric(float64(d[len(d)-1])/1e6, name+"-max-ms")
		b.ReportMetric(float64(d[len(d)*99/100])/1e6, name+"-p99-ms")
		b.Logf("%s: %d answers, median %v, p99 %v, max %v", name, len(d), d[len(d)/2], d[len(d)*99/100], d[len(d)-1])
	}
}

// curlFirstBytes fetches urls with one curl, one after the other, and
// returns the time each took to its first byte (curl's
// time_starttransfer: from the transfer's start, curl's own start-up
// left out); an error unless each answered 200.
func curlFirstBytes(curl string, urls []string) ([]time.Duration, error) {
	args := []string{"-sS", "--max-time", "30", "-w", "%{http_code} %{time_starttransfer}\n"}
	for _, u := range urls {
		args = append(args, "-o", "/dev/null", u)
	}
	out, err := exec.Command(curl, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("curl %s: %w", strings.Join(urls, " "), err)
	}
	var got []time.Duration
	sc := bufio.NewScanner(bytes.NewReader(out))
	for k := 0; sc.Scan(); k++ {
		code, secs, _ := strings.Cut(sc.Text(), " ")
		f, err := strconv.ParseFloat(secs, 64)
		if code != "200" || err != nil || k >= len(urls) {
			return nil, fmt.Errorf("curl: %q for %s, want 200 and a time", sc.Text(), urls[min(k, len(urls)-1)])
		}
		got = append(got, time.Duration(f*float64(time.Second)))
	}
	if len(got) != len(urls) {
		return nil, fmt.Errorf("curl: %d answers for %d URLs:\n%s", len(got), len(urls), out)
	}
	return got, nil
}

// statusAt is the answer of GET /status of the agent at base.
func statusAt(base string) (Status, error) {
	var st Status
	resp, err := http.Get(base + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s/status: %s", base, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// renice sets the nice value of every thread of process pid (Linux's
// nice is a thread's; the threads the process starts later inherit it).
func renice(b *testing.B, pid, nice int) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			b.Fatalf("setpriority(thread %d of %d, %d): %v", tid, pid, nice, err)
		}
	}
}
