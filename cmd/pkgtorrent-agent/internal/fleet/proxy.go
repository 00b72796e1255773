package fleet

import (
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// The proxy network's namespace, its link into the test's namespace, and
// addresses: the host's, the proxy's and the mirror's.
const (
	proxyNS     = "ptproxy-host"
	proxyLink   = "ptproxy0"
	ProxyHostIP = "10.213.78.2"
	ProxyIP     = "10.213.78.1"
	MirrorIP    = "10.213.78.9"
)

// ProxyNet is a host that reaches its mirror only through an HTTP proxy:
// Host, a namespace whose servers (the agent) listen on its own loopback,
// with one route, to ProxyIP in the test's namespace; the proxy listens
// there (Proxy), and the mirror on MirrorIP, also in the test's namespace
// (Mirror), to which the host has no route. The test reaches all of
// them: the host's servers through Node.DialContext.
type ProxyNet struct {
	Host, Proxy, Mirror e2e.Node
}

// NewProxyNet makes the namespace and the link, and removes them when the
// test ends.
func NewProxyNet(t testing.TB) *ProxyNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the proxy network is a network namespace: run the tests as root (as `make test` on a fresh machine does)")
	}
	ip := e2e.Need(t, "ip")
	removeProxyNet(ip)
	t.Cleanup(func() { removeProxyNet(ip) })
	for _, args := range [][]string{
		{"netns", "add", proxyNS},
		{"link", "add", proxyLink, "type", "veth", "peer", "name", "eth0", "netns", proxyNS},
		{"-n", proxyNS, "link", "set", "lo", "up"},
		{"-n", proxyNS, "addr", "add", ProxyHostIP + "/32", "dev", "eth0"},
		{"-n", proxyNS, "link", "set", "eth0", "up"},
		{"-n", proxyNS, "route", "add", ProxyIP + "/32", "dev", "eth0"},
		{"addr", "add", ProxyIP + "/32", "dev", proxyLink},
		{"addr", "add", MirrorIP + "/32", "dev", proxyLink},
		{"link", "set", proxyLink, "up"},
		{"route", "add", ProxyHostIP + "/32", "dev", proxyLink},
	} {
		runIP(t, ip, args...)
	}
	return &ProxyNet{
		Host:   e2e.Node{Netns: proxyNS, Next: new(atomic.Int32)},
		Proxy:  e2e.Node{IP: ProxyIP},
		Mirror: e2e.Node{IP: MirrorIP},
	}
}

// removeProxyNet removes the namespace (its end of the link goes with
// it) and the link, of this run or an interrupted one.
func removeProxyNet(ip string) {
	exec.Command(ip, "netns", "del", proxyNS).Run()
	exec.Command(ip, "link", "del", proxyLink).Run()
}
