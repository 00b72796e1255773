package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// The benchmark's simulated network: namespaces named NSPrefix..., on the
// subnet Net.0/24, and this namespace's link into it.
const (
	NSPrefix = "ptbench-"
	Net      = "10.213.77."
	link     = "ptbench0"
)

// LAN is the benchmark's simulated network.
type LAN struct {
	Origin, Tracker e2e.Node
	Hosts           []e2e.Node
}

// NewLAN makes the namespaces and links, and removes them when the
// benchmark ends.
func NewLAN(b testing.TB, hosts int, originRate, hostRate string) *LAN {
	b.Helper()
	ip := e2e.Need(b, "ip")
	e2e.Need(b, "tc")
	run := func(args ...string) { b.Helper(); runIP(b, ip, args...) }
	RemoveLAN(ip)
	b.Cleanup(func() { RemoveLAN(ip) })
	sw := NSPrefix + "sw"
	run("netns", "add", sw)
	run("-n", sw, "link", "add", "br0", "type", "bridge")
	run("-n", sw, "link", "set", "br0", "up")
	var next atomic.Int32
	// node makes namespace name with address .host, linked to the bridge
	// through port, each direction shaped to rate.
	node := func(name string, host int, port, rate string) e2e.Node {
		ns := NSPrefix + name
		run("netns", "add", ns)
		run("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", sw)
		run("-n", sw, "link", "set", port, "master", "br0", "up")
		run("-n", ns, "addr", "add", Net+strconv.Itoa(host)+"/24", "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
		run("-n", ns, "link", "set", "lo", "up")
		Shape(b, ns, "eth0", rate)
		Shape(b, sw, port, rate)
		return e2e.Node{Netns: ns, IP: Net + strconv.Itoa(host), Next: &next}
	}
	lan := &LAN{Origin: node("origin", 1, "origin", originRate), Tracker: node("tracker", 2, "tracker", hostRate)}
	for i := range hosts {
		name := fmt.Sprintf("host%d", i+1)
		lan.Hosts = append(lan.Hosts, node(name, 11+i, name, hostRate))
	}
	run("link", "add", link, "type", "veth", "peer", "name", "bench", "netns", sw)
	run("-n", sw, "link", "set", "bench", "master", "br0", "up")
	run("addr", "add", Net+"254/24", "dev", link)
	run("link", "set", link, "up")
	staticNeighbours(b, ip, lan)
	return lan
}

// staticNeighbours gives every namespace of lan, and this one, a
// permanent neighbour entry for every other address of the LAN, so that
// no address is resolved by ARP while the benchmark runs. With ARP, 40
// hosts on 2 busy cores lost whole hosts: in 7 runs of 40 hosts, 0 to 6
// of them could not resolve the tracker's address for the whole run
// ("connect: no route to host", entries INCOMPLETE while the others
// were REACHABLE), so they found no peer and took every package from
// the mirror; the agent's figures measured the test bed's ARP.
func staticNeighbours(b testing.TB, ip string, lan *LAN) {
	b.Helper()
	type end struct{ ns, dev, addr, mac string }
	ends := []end{{"", link, Net + "254", ""}}
	for _, n := range append([]e2e.Node{lan.Origin, lan.Tracker}, lan.Hosts...) {
		ends = append(ends, end{n.Netns, "eth0", n.IP, ""})
	}
	for i := range ends {
		args := []string{"-j", "link", "show", ends[i].dev}
		if ends[i].ns != "" {
			args = append([]string{"-n", ends[i].ns}, args...)
		}
		out, err := exec.Command(ip, args...).Output()
		var links []struct {
			Address string `json:"address"`
		}
		if err == nil {
			err = json.Unmarshal(out, &links)
		}
		if err != nil || len(links) != 1 || links[0].Address == "" {
			b.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		ends[i].mac = links[0].Address
	}
	for _, e := range ends {
		var batch strings.Builder
		for _, o := range ends {
			if o.addr != e.addr {
				fmt.Fprintf(&batch, "neigh replace %s lladdr %s dev %s nud permanent\n", o.addr, o.mac, e.dev)
			}
		}
		args := []string{"-batch", "-"}
		if e.ns != "" {
			args = append([]string{"-n", e.ns}, args...)
		}
		cmd := exec.Command(ip, args...)
		cmd.Stdin = strings.NewReader(batch.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ip %s (neighbours of %s): %v: %s", strings.Join(args, " "), e.addr, err, out)
		}
	}
}

// runIP runs the ip command with args, failing the test when it fails.
func runIP(t testing.TB, ip string, args ...string) {
	t.Helper()
	if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// RemoveLAN removes the namespaces (their links go with them) and
// this namespace's link, of this run or an interrupted one.
func RemoveLAN(ip string) {
	out, _ := exec.Command(ip, "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], NSPrefix) {
			exec.Command(ip, "netns", "del", f[0]).Run()
		}
	}
	exec.Command(ip, "link", "del", link).Run()
}

// Shape limits dev's egress in namespace ns to rate, with a queue of
// at most 20 ms (a mirror's link does not buffer seconds). The burst
// holds a whole GSO segment (64 KiB) of the veth.
func Shape(b testing.TB, ns, dev, rate string) {
	b.Helper()
	args := []string{"-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "20ms"}
	if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
		b.Fatalf("tc %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// LinkBytes returns the bytes eth0 of node's namespace sent and received.
func LinkBytes(b testing.TB, n e2e.Node) (tx, rx int64) {
	b.Helper()
	out, err := exec.Command("ip", "-n", n.Netns, "-s", "-j", "link", "show", "eth0").Output()
	if err != nil {
		b.Fatalf("ip -n %s -s -j link show eth0: %v", n.Netns, err)
	}
	var links []struct {
		Stats struct {
			RX struct{ Bytes int64 } `json:"rx"`
			TX struct{ Bytes int64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		b.Fatalf("ip -s -j link show eth0 in %s: %v: %s", n.Netns, err, out)
	}
	return links[0].Stats.TX.Bytes, links[0].Stats.RX.Bytes
}

// CPU returns the CPU time (user and system) process pid has used.
func CPU(b testing.TB, pid int) time.Duration {
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
