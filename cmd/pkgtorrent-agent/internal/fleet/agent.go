package fleet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// Agent is a running pkgtorrent-agent.
type Agent struct {
	Node  e2e.Node
	Name  string
	Bin   string // the binary, plain or -race (AgentBinary)
	Base  string // http://127.0.0.1:port
	Store string
	Args  []string
	Log   string
	Proc  *e2e.Proc
}

// StartAgent starts the agent binary bin with its own port and store
// (under the test's folder, unless store is set) that may fetch from the
// mirrors in allow.
func StartAgent(t testing.TB, bin, name, store string, allow []string, extra ...string) *Agent {
	t.Helper()
	return StartAgentOn(t, e2e.Node{}, bin, name, store, allow, extra...)
}

// StartAgentOn is StartAgent on node.
func StartAgentOn(t testing.TB, node e2e.Node, bin, name, store string, allow []string, extra ...string) *Agent {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if store == "" {
		store = filepath.Join(dir, "store")
	}
	a := &Agent{Node: node, Name: name, Bin: bin, Store: store, Log: filepath.Join(dir, "agent.log")}
	a.Base = node.URL("http", node.Port(t))
	a.Args = []string{"-listen", strings.TrimPrefix(a.Base, "http://"), "-peer-port", "0", "-peer-host", node.Addr(), "-store", store,
		"-repos-dir", "", "-dnf-conf", "", "-log-level", "debug"}
	for _, u := range allow {
		a.Args = append(a.Args, "-allow", u)
	}
	a.Args = append(a.Args, extra...)
	e2e.CheckRaces(t, name, a.Log)
	a.Start(t)
	return a
}

// Start (re)starts the agent's process with its arguments.
func (a *Agent) Start(t testing.TB) {
	t.Helper()
	name, args := a.Bin, a.Args
	if os.Geteuid() == 0 {
		// Each agent is a host of its own, with its own host name (from
		// which the agent spreads its timing over the fleet, as hosts
		// with different names do): a UTS namespace per agent.
		name = e2e.Need(t, "unshare")
		args = append([]string{"--uts", "/bin/sh", "-c", `hostname "$0" && exec "$@"`, a.Name, a.Bin}, a.Args...)
	} else if !sharedHostname.Swap(true) {
		t.Logf("not root: the agents share this machine's host name")
	}
	a.Proc = e2e.Start(t, a.Name, a.Node.Command(nil, name, args...), a.Log)
	c := a.Node.Client(5 * time.Second)
	e2e.Wait(t, a.Name+" on "+a.Base, 30*time.Second, func() error {
		resp, err := c.Get(a.Base + "/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /status: %s", resp.Status)
		}
		return nil
	}, a.Proc)
}

// get returns the body of the agent's answer to GET path, an error
// unless it is 200.
func (a *Agent) get(path string) (io.ReadCloser, error) {
	resp, err := a.Node.Client(5 * time.Second).Get(a.Base + path)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s%s: %s", a.Base, path, resp.Status)
	}
	return resp.Body, nil
}

// Metrics returns the agent's /metrics samples: "name{labels}" -> value.
func (a *Agent) Metrics() (map[string]float64, error) {
	body, err := a.get("/metrics")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// EngineCounters returns the engine's counters from the agent's
// /debug/vars (its pprof setting on): the numbers of the expvar map
// "torrent", such as "messages written of type Have".
func (a *Agent) EngineCounters() (map[string]float64, error) {
	body, err := a.get("/debug/vars")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var vars struct {
		Torrent map[string]json.RawMessage `json:"torrent"`
	}
	if err := json.NewDecoder(body).Decode(&vars); err != nil {
		return nil, fmt.Errorf("GET %s/debug/vars: %w", a.Base, err)
	}
	out := map[string]float64{}
	for k, v := range vars.Torrent {
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			out[k] = f
		}
	}
	return out, nil
}

// Sources are an agent's bytes by source, from its /metrics.
type Sources struct {
	Peers, Origin, Fallback, Uploaded float64
}

// Total is the bytes from all sources.
func (s Sources) Total() float64 { return s.Peers + s.Origin + s.Fallback }

func (s Sources) String() string {
	return fmt.Sprintf("peers %.1f MiB, origin %.1f MiB, fallback %.1f MiB, uploaded %.1f MiB",
		s.Peers/(1<<20), s.Origin/(1<<20), s.Fallback/(1<<20), s.Uploaded/(1<<20))
}

// Sources reads the contract's counters from /metrics.
func (a *Agent) Sources(t testing.TB) Sources {
	t.Helper()
	var s Sources
	if a.Proc.Exited() {
		t.Errorf("%s is not running: it exited (%v)%s", a.Name, a.Proc.Err(), e2e.Crash(a.Log))
		return s
	}
	m, err := a.Metrics()
	if err != nil {
		t.Errorf("%s: %v", a.Name, err)
		return s
	}
	found := 0
	for _, c := range []struct {
		key string
		v   *float64
	}{
		{`pkgtorrent_agent_bytes_total{source="peers"}`, &s.Peers},
		{`pkgtorrent_agent_bytes_total{source="origin"}`, &s.Origin},
		{`pkgtorrent_agent_bytes_total{source="fallback"}`, &s.Fallback},
		{`pkgtorrent_agent_uploaded_bytes_total`, &s.Uploaded},
	} {
		if v, ok := m[c.key]; ok {
			*c.v = v
			found++
		}
	}
	if found < 4 {
		t.Errorf("%s: /metrics lacks some of pkgtorrent_agent_bytes_total{source=\"peers\"|\"origin\"|\"fallback\"} and pkgtorrent_agent_uploaded_bytes_total; got %v", a.Name, m)
	}
	return s
}

// Status decodes the agent's GET /status into st (an *agent.Status,
// which this package, imported by the agent's tests, cannot name), failing
// the test when it does not answer with one.
func (a *Agent) Status(t testing.TB, st any) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(a.Base + "/status")
	if err != nil {
		t.Fatalf("%s: %v", a.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/status: %s", a.Base, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(st); err != nil {
		t.Fatalf("GET %s/status: %v", a.Base, err)
	}
}
