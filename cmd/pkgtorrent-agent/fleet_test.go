package main

// The fleet tests of issue 12, with real programs only: RPMs built by
// rpmbuild, a repository by createrepo_c, nginx under the shipped
// configuration with pkgtorrent-service behind it, opentracker, the
// agent's binary, and dnf 4. See internal/fleet for the harness.
//
// Run them with:
//
//	cd cmd/pkgtorrent-agent && go test -race -count=1 -run 'TestFleet' -v .

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// fleetLong skips a fleet test in -short mode, saying so.
// Otherwise it builds what the test needs (agent: the agent too).
func fleetLong(t *testing.T, agent bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("fleet test with real nginx, opentracker, agents and dnf: not in -short mode")
	}
	fleet.Prepare(t, agent)
}

// TestFleetBaseline is the reference without agents: 4 dnf hosts install
// the same transaction from nginx at the same time, and the origin sends
// 4 copies of the package bytes, as measured from its access log (which
// also proves the measurement the other tests rely on).
func TestFleetBaseline(t *testing.T) {
	fleetLong(t, false)
	m := fleet.StartMirror(t, fleet.Repository(t), nil)
	const n = 4
	var hosts []*fleet.Host
	for i := range n {
		h := fleet.NewHost(t, fmt.Sprintf("host%d", i+1))
		h.RepoFile(t, []string{m.RepoURL(m.Base)})
		hosts = append(hosts, h)
	}
	times, o := m.Install(t, hosts)
	t.Logf("without agents: %d hosts took %v; the origin sent %s of packages = %.2f copies of the %d packages (%s); dnf times %v",
		n, slicesMax(times), fleet.MiB(o.Total), m.Copies(o.Total), len(m.Repo.Pkgs), fleet.MiB(m.Repo.Total), times)
	if want := n * m.Repo.Total; o.Total != want || o.DNF != want {
		t.Errorf("the origin sent %d bytes of packages (%d to dnf), want exactly %d copies of %d = %d, all to dnf", o.Total, o.DNF, n, m.Repo.Total, want)
	}
}

// TestFleet is the fleet on one machine: 4 agents, each its own process
// with its own port and store, and 4 dnf hosts with local-first repo
// files, installing the same transaction at the same time. Every dnf
// succeeds (it verified every checksum), every package has the bytes
// rpmbuild made, and the origin sends at most 1.2 copies of the package
// bytes in all (4 without agents: TestFleetBaseline). The agents are the
// plain build, the one that ships (see fleet.AgentBinary).
func TestFleet(t *testing.T) {
	fleetLong(t, true)
	m := fleet.Swarm(t)
	const n = 4
	var agents []*fleet.Agent
	var hosts []*fleet.Host
	for i := range n {
		a := fleet.StartAgent(t, fleet.AgentBinary(t, false), fmt.Sprintf("agent%d", i+1), "", []string{m.Base + "/"})
		h := fleet.NewHost(t, fmt.Sprintf("host%d", i+1))
		h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
		agents, hosts = append(agents, a), append(hosts, h)
	}
	times, o := m.Install(t, hosts)
	t.Logf("with %d agents: %d hosts took %v (dnf times %v); the origin sent %s of packages = %.2f copies (%s to agents, %s to dnf itself); offload %.0f%%",
		n, n, slicesMax(times), times, fleet.MiB(o.Total), m.Copies(o.Total), fleet.MiB(o.Others), fleet.MiB(o.DNF),
		100*(1-float64(o.Total)/float64(n*m.Repo.Total)))
	var peers float64
	for _, a := range agents {
		s := a.Sources(t)
		peers += s.Peers
		t.Logf("%s /metrics: %v", a.Name, s)
	}
	t.Logf("agents' bytes from peers: %.1f MiB of %s downloaded by the fleet", peers/(1<<20), fleet.MiB(n*m.Repo.Total))
	// 1.2, not the 1.5 of issue 12: with each piece ranked to one host
	// (fill), the origin sent 1.00 copies in every run here, under load
	// too; hosts picking pieces from spread starts sent 1.21-1.37.
	if limit := m.Repo.Total * 6 / 5; o.Total > limit {
		t.Errorf("the origin sent %.2f copies of the package bytes (%d bytes), want at most 1.2 copies (%d bytes)", m.Copies(o.Total), o.Total, limit)
	}
	for _, a := range agents {
		a.Proc.StopClean(t)
	}
}

// TestFleetAgentKilled kills the agent (SIGKILL) while dnf downloads
// through it: dnf finishes through the repo file's second URL.
func TestFleetAgentKilled(t *testing.T) {
	fleetLong(t, true)
	dnf := e2e.Need(t, "dnf")
	m := fleet.Swarm(t)
	a := fleet.StartAgent(t, fleet.AgentBinary(t, true), "agent", "", []string{m.Base + "/"})
	h := fleet.NewHost(t, "host")
	h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
	off := m.LogOffset(t)
	done := make(chan error, 1)
	go func() {
		_, err := h.Install(t.Context(), dnf, m.Repo.Names())
		done <- err
	}()
	// Kill it once it has its first package bytes.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := a.Metrics()
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		got := s[`pkgtorrent_agent_bytes_total{source="peers"}`] + s[`pkgtorrent_agent_bytes_total{source="origin"}`] +
			s[`pkgtorrent_agent_bytes_total{source="fallback"}`]
		if got > 0 {
			t.Logf("killing %s after %.1f MiB", a.Name, got/(1<<20))
			break
		}
		select {
		case err := <-done:
			t.Fatalf("dnf ended (%v) before the agent had any package bytes: the kill would not be mid-transaction", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent had no package bytes after 2 minutes of dnf")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Proc.Kill()
	select {
	case err := <-done:
		t.Fatalf("dnf ended (%v) as the agent was killed: not mid-transaction", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("after the agent was killed: %v\n%s", err, e2e.Tail(h.Log, 3000))
	}
	h.CheckDownloads(t, m.Repo)
	o := m.OriginBytes(t, off)
	t.Logf("dnf took %d packages (%s) through the second URL after the kill; the agent had fetched %s", len(o.DNFFiles), fleet.MiB(o.DNF), fleet.MiB(o.Others))
	if len(o.DNFFiles) == 0 {
		t.Errorf("dnf fetched no package through the second URL: the kill did not happen mid-transaction")
	}
}

// TestFleetTrackerDown lists a tracker that is not running: the agent's
// downloads finish from the web seed (the mirror). Its time against plain
// dnf without agent is logged; the "at most 2 s slower" is a
// benchmark figure, and the test only bounds it generously. The agent is
// the plain build, the one that ships (see fleet.AgentBinary).
func TestFleetTrackerDown(t *testing.T) {
	fleetLong(t, true)
	dnf := e2e.Need(t, "dnf")
	repo := fleet.Repository(t)
	// A port nobody listens on, TCP or UDP.
	m := fleet.StartMirror(t, repo, []string{e2e.Announce(e2e.Port(t))})

	plain := fleet.NewHost(t, "plain")
	plain.RepoFile(t, []string{m.RepoURL(m.Base)})
	plainTime, err := plain.Install(t.Context(), dnf, repo.Names())
	if err != nil {
		t.Fatalf("plain dnf: %v", err)
	}
	plain.CheckDownloads(t, repo)

	a := fleet.StartAgent(t, fleet.AgentBinary(t, false), "agent", "", []string{m.Base + "/"})
	h := fleet.NewHost(t, "host")
	h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
	off := m.LogOffset(t)
	agentTime, err := h.Install(t.Context(), dnf, repo.Names())
	if err != nil {
		t.Fatalf("with the tracker down: %v", err)
	}
	h.CheckDownloads(t, repo)
	o := m.OriginBytes(t, off)
	s := a.Sources(t)
	t.Logf("tracker down: dnf through the agent took %v, plain dnf %v: %+.1f s; the agent: %v; origin sent %s to the agent, %s to dnf itself",
		agentTime.Round(time.Millisecond), plainTime.Round(time.Millisecond), (agentTime - plainTime).Seconds(), s, fleet.MiB(o.Others), fleet.MiB(o.DNF))
	if len(o.DNFFiles) != 0 {
		t.Errorf("dnf fetched %d packages itself (%s): the agent did not deliver them with the tracker down", len(o.DNFFiles), fleet.MiB(o.DNF))
	}
	if o.Others < repo.Total {
		t.Errorf("the agent fetched %d bytes of packages from the mirror, want all %d: with no tracker and no peer, the mirror is the only source", o.Others, repo.Total)
	}
	if d := agentTime - plainTime; d > 30*time.Second {
		t.Errorf("with the tracker down, dnf through the agent took %v more than plain dnf, want well under 30 s (the goal is 2 s)", d)
	}
	a.Proc.StopClean(t)
}

// TestFleetCorruptStore corrupts a finished file in the agent's store
// while the agent is stopped (same size, same mtime): after a restart,
// dnf gets the right bytes and the agent fetched the file again.
func TestFleetCorruptStore(t *testing.T) {
	fleetLong(t, true)
	dnf := e2e.Need(t, "dnf")
	m := fleet.Swarm(t)
	a := fleet.StartAgent(t, fleet.AgentBinary(t, true), "agent", "", []string{m.Base + "/"})
	h1 := fleet.NewHost(t, "host1")
	h1.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
	if _, err := h1.Install(t.Context(), dnf, m.Repo.Names()); err != nil {
		t.Fatalf("before the corruption: %v", err)
	}
	h1.CheckDownloads(t, m.Repo)
	a.Proc.StopClean(t)

	// The largest package that the store holds with its bytes.
	var victim fleet.Pkg
	var victimFile string
	files := fleet.FilesIn(t, a.Store)
	for _, p := range m.Repo.Pkgs {
		if p.Size <= victim.Size {
			continue
		}
		for _, paths := range files {
			for _, f := range paths {
				if fi, err := os.Stat(f); err != nil || fi.Size() != p.Size {
					continue
				}
				if sum, _, err := fleet.FileSHA256(f); err == nil && sum == p.SHA256 {
					victim, victimFile = p, f
				}
			}
		}
	}
	if victimFile == "" {
		t.Fatalf("the agent's store %s holds no package with its bytes after a download: %v", a.Store, files)
	}
	fleetCorrupt(t, victimFile)
	t.Logf("corrupted %s (%s) in the store", victimFile, victim.File)

	a.Start(t)
	h2 := fleet.NewHost(t, "host2")
	h2.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
	off := m.LogOffset(t)
	if _, err := h2.Install(t.Context(), dnf, m.Repo.Names()); err != nil {
		t.Fatalf("after the corruption: %v", err)
	}
	h2.CheckDownloads(t, m.Repo)
	var again, others int64
	refetched := map[string]bool{}
	for _, l := range m.AccessLogLines(t, off) {
		if l.Method != http.MethodGet || fleet.FromDNF(l) || !strings.HasSuffix(l.Path, ".rpm") || strings.Contains(l.Path, "/"+e2e.ServiceName+"/") {
			continue
		}
		if l.Path == m.Repo.URLPath(victim) {
			again += l.Bytes
		} else if l.Bytes > 0 {
			others += l.Bytes
			refetched[l.Path] = true
		}
	}
	o := m.OriginBytes(t, off)
	t.Logf("after the restart the agent fetched %s of the corrupted %s (%s) again, and %s of %d other packages; dnf fetched %d packages itself; the agent: %v",
		fleet.MiB(again), victim.File, fleet.MiB(victim.Size), fleet.MiB(others), len(refetched), len(o.DNFFiles), a.Sources(t))
	if again == 0 {
		t.Errorf("the agent did not fetch the corrupted %s again from the origin after its restart", victim.File)
	}
	if o.DNFFiles[m.Repo.URLPath(victim)] {
		t.Errorf("dnf fetched %s itself: the agent did not serve the file it had to fetch again", victim.File)
	}
	if sum, _, err := fleet.FileSHA256(victimFile); err == nil && sum != victim.SHA256 {
		t.Errorf("after the new download, the store's %s still has wrong bytes (sha256 %s)", victimFile, sum)
	}
	a.Proc.StopClean(t)
}

// fleetCorrupt flips a 64 KiB run of bytes in the middle of a file,
// keeping its size and modification time.
func fleetCorrupt(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		// Finished files may be read-only; root writes them anyway.
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	off := fi.Size() / 2
	n, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	for i := range buf[:n] {
		buf[i] ^= 0xff
	}
	if _, err := f.WriteAt(buf[:n], off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestFleetNotAllowed asks the agent for URLs of mirrors it was not told
// about: 403 with one line, and it connects nowhere. The allowed mirror's
// repomd.xml, asked the same way, passes through.
func TestFleetNotAllowed(t *testing.T) {
	fleetLong(t, true)
	m := fleet.StartMirror(t, fleet.Repository(t), nil)
	// A listener that counts the connections the agent should never make.
	canary, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer canary.Close()
	var dialed atomic.Int64
	go func() {
		for {
			c, err := canary.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	// Allowed: the repository's folder on the http port only.
	a := fleet.StartAgent(t, fleet.AgentBinary(t, true), "agent", "", []string{m.RepoURL(m.Base)})
	off := m.LogOffset(t)
	host := strings.TrimPrefix(m.Base, "http://")
	tlsHost := strings.TrimPrefix(m.TLSBase, "https://")
	pkg := m.Repo.URLPath(m.Repo.Pkgs[0])
	client := &http.Client{
		Timeout: 10 * time.Second,
		// A redirect to the cleaned path is an answer of its own.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, c := range []struct{ name, path string }{
		{"another host:port", "/m/http/" + canary.Addr().String() + pkg},
		{"the mirror's https port", "/m/https/" + tlsHost + pkg},
		{"the mirror's http port as https", "/m/https/" + host + pkg},
		{"another name of the mirror", "/m/http/localhost:" + strings.TrimPrefix(host, "127.0.0.1:") + pkg},
		{"outside the allowed folder", "/m/http/" + host + "/repo/other.rpm"},
		{"outside the allowed folder with dot-dot", "/m/http/" + host + "/" + fleet.RepoPath + "/../../etc/passwd.rpm"},
		{"outside the allowed folder with encoded dot-dot", "/m/http/" + host + "/" + fleet.RepoPath + "/%2e%2e/%2E%2E/etc/passwd.rpm"},
		{"another scheme", "/m/ftp/" + host + pkg},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, err := http.NewRequest(method, a.Base+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = c.path // as written, dot-dot included
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s %s (%s): %v", method, c.path, c.name, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if method == http.MethodGet {
				t.Logf("%s (%s): %s %q", c.path, c.name, resp.Status, body)
			}
			// A malformed request (dot-dot, a scheme that is not http or
			// https) may be refused as bad, or redirected to its cleaned
			// path, before the allow-list is looked at: neither fetches
			// anything, which the access log and the canary check.
			malformed := strings.Contains(c.path, "/../") || strings.Contains(c.path, "%2e") || strings.HasPrefix(c.path, "/m/ftp/")
			switch {
			case resp.StatusCode == http.StatusForbidden:
			case malformed && resp.StatusCode == http.StatusBadRequest:
			case malformed && (resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusPermanentRedirect):
				continue
			default:
				t.Errorf("%s %s (%s): %s, want 403 Forbidden", method, c.path, c.name, resp.Status)
			}
			if method == http.MethodGet {
				line := strings.TrimSuffix(string(body), "\n")
				if line == "" || strings.Contains(line, "\n") || len(line) > 300 {
					t.Errorf("GET %s (%s): body %q, want one line saying what was wrong", c.path, c.name, body)
				}
			}
		}
	}
	// The allowed mirror's metadata passes through unchanged.
	repomd := m.AgentRepoURL(a.Base, m.Base) + "repodata/repomd.xml"
	resp, err := client.Get(repomd)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, err := os.ReadFile(filepath.Join(m.Repo.Root, filepath.FromSlash(fleet.RepoPath), "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Errorf("GET %s: %s with %d bytes, want 200 with repomd.xml's %d bytes", repomd, resp.Status, len(got), len(want))
	}
	if n := dialed.Load(); n != 0 {
		t.Errorf("the agent connected %d times to %s, a mirror it was not told about", n, canary.Addr())
	}
	for _, l := range m.AccessLogLines(t, off) {
		if !strings.HasSuffix(l.Path, "/repodata/repomd.xml") {
			t.Errorf("the mirror got %s %s %s (%s) from a request the agent had to refuse", l.Scheme, l.Method, l.Path, l.Agent)
		}
	}
}

// TestFleetHTTPS gives the agent an https mirror with a test certificate
// it is told to trust (-ca-file): the agent fetches it itself, over TLS.
func TestFleetHTTPS(t *testing.T) {
	fleetLong(t, true)
	dnf := e2e.Need(t, "dnf")
	m := fleet.Swarm(t)
	a := fleet.StartAgent(t, fleet.AgentBinary(t, true), "agent", "", []string{m.TLSBase + "/"}, "-ca-file", m.CertFile)
	h := fleet.NewHost(t, "host")
	h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.TLSBase), m.RepoURL(m.TLSBase)}, "sslcacert="+m.CertFile)
	off := m.LogOffset(t)
	if _, err := h.Install(t.Context(), dnf, m.Repo.Names()); err != nil {
		t.Fatal(err)
	}
	h.CheckDownloads(t, m.Repo)
	o := m.OriginBytes(t, off)
	var https, plain int64
	for _, l := range m.AccessLogLines(t, off) {
		if !fleet.FromDNF(l) && strings.HasSuffix(l.Path, ".rpm") {
			if l.Scheme == "https" {
				https += l.Bytes
			} else {
				plain += l.Bytes
			}
		}
	}
	t.Logf("https mirror: the agent fetched %s over https (%s over http); dnf fetched %d packages itself; the agent: %v",
		fleet.MiB(https), fleet.MiB(plain), len(o.DNFFiles), a.Sources(t))
	if len(o.DNFFiles) != 0 {
		t.Errorf("dnf fetched %d packages itself (%s): the agent did not fetch the https mirror", len(o.DNFFiles), fleet.MiB(o.DNF))
	}
	if o.Others < m.Repo.Total || plain != 0 {
		t.Errorf("the agent fetched %d bytes of packages from the mirror (%d over plain http), want all %d, over https", o.Others, plain, m.Repo.Total)
	}
	a.Proc.StopClean(t)
}

// TestFleetStoreFull puts the agent's store on a 2 MiB tmpfs, too small
// for most packages: dnf still gets its packages, and the agent lives on.
func TestFleetStoreFull(t *testing.T) {
	fleetLong(t, true)
	if os.Geteuid() != 0 {
		t.Fatalf("TestFleetStoreFull mounts a tmpfs under the agent's store: run the tests as root (as `make test` on a fresh machine does)")
	}
	dnf := e2e.Need(t, "dnf")
	m := fleet.Swarm(t)
	store := filepath.Join(t.TempDir(), "small-store")
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", store, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=2m,mode=0755"); err != nil {
		t.Fatalf("mount a 2 MiB tmpfs on %s: %v", store, err)
	}
	// Registered before the agent starts: runs after it stopped.
	t.Cleanup(func() {
		if err := syscall.Unmount(store, 0); err != nil {
			t.Errorf("unmount %s: %v", store, err)
		}
	})
	a := fleet.StartAgent(t, fleet.AgentBinary(t, true), "agent", store, []string{m.Base + "/"})
	h := fleet.NewHost(t, "host")
	h.RepoFile(t, []string{m.AgentRepoURL(a.Base, m.Base), m.RepoURL(m.Base)})
	off := m.LogOffset(t)
	d, err := h.Install(t.Context(), dnf, m.Repo.Names())
	if err != nil {
		t.Fatalf("with the store's disk full: %v", err)
	}
	h.CheckDownloads(t, m.Repo)
	if a.Proc.Exited() {
		t.Errorf("the agent exited (%v) with its store's disk full%s", a.Proc.Err(), e2e.Crash(a.Log))
	}
	o := m.OriginBytes(t, off)
	var st syscall.Statfs_t
	if err := syscall.Statfs(store, &st); err == nil {
		t.Logf("store: %d of %d KiB free", st.Bfree*uint64(st.Bsize)>>10, st.Blocks*uint64(st.Bsize)>>10)
	}
	t.Logf("store full: dnf took %v; %d packages (%s) came through the agent's fetches (%s from the origin), %d packages (%s) through dnf's second URL; the agent: %v",
		d.Round(time.Millisecond), len(m.Repo.Pkgs)-len(o.DNFFiles), fleet.MiB(m.Repo.Total-o.DNF), fleet.MiB(o.Others), len(o.DNFFiles), fleet.MiB(o.DNF), a.Sources(t))
	if !a.Proc.Exited() {
		a.Proc.StopClean(t)
	}
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m.Round(time.Millisecond)
}
