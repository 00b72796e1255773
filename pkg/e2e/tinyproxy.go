package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Tinyproxy is a running tinyproxy: an HTTP forward proxy (absolute-URI
// requests and CONNECT to any port), on node's address and port.
type Tinyproxy struct {
	URL string // http://addr:port
	// Log is tinyproxy's own log: a "Request" line for each request it
	// forwards, with the request line.
	Log  string
	Proc *Proc
}

// StartTinyproxy starts tinyproxy on node's address and a port of it,
// taking requests only from the addresses of allow (every address when
// empty). It returns once the port accepts connections.
func StartTinyproxy(t testing.TB, node Node, allow ...string) *Tinyproxy {
	t.Helper()
	bin := Need(t, "tinyproxy")
	dir := filepath.Join(t.TempDir(), "tinyproxy")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := node.Port(t)
	addr := net.JoinHostPort(node.Addr(), strconv.Itoa(port))
	p := &Tinyproxy{URL: "http://" + addr, Log: filepath.Join(dir, "tinyproxy.log")}
	// No ConnectPort line: CONNECT to any port (the tests' https ports are
	// not 443). Connect is the level that logs each request.
	conf := fmt.Sprintf("Port %d\nListen %s\nTimeout 60\nMaxClients 200\nLogLevel Connect\nLogFile %q\n",
		port, node.Addr(), p.Log)
	for _, a := range allow {
		conf += "Allow " + a + "\n"
	}
	confFile := filepath.Join(dir, "tinyproxy.conf")
	WriteFile(t, confFile, conf)
	// -d: in the foreground, for Proc to stop it.
	p.Proc = Start(t, "tinyproxy", node.Command(nil, bin, "-d", "-c", confFile), filepath.Join(dir, "tinyproxy.out"))
	ShowLogOnFailure(t, "tinyproxy's own log", p.Log)
	Wait(t, "tinyproxy on "+addr, 20*time.Second, func() error {
		c, err := node.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}, p.Proc)
	return p
}
