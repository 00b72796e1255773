package main

// The fleet tests of issue 12, with real programs only: RPMs built by
// rpmbuild, a repository by createrepo_c, nginx under the shipped
// configuration with pkgtorrent-service behind it, opentracker, the
// agent's binary, and dnf 4. See fleet_helpers_test.go for the harness.
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
)

// fleetLong skips a fleet test in -short mode, saying so.
// Otherwise it builds what the test needs (agent: the agent too).
func fleetLong(t *testing.T, agent bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("fleet test with real nginx, opentracker, agents and dnf: not in -short mode")
	}
	fleetPrepare(t, agent)
}

// TestFleetBaseline is the reference without agents: 4 dnf hosts install
// the same transaction from nginx at the same time, and the origin sends
// 4 copies of the package bytes, as measured from its access log (which
// also proves the measurement the other tests rely on).
func TestFleetBaseline(t *testing.T) {
	fleetLong(t, false)
	m := fleetStartMirror(t, fleetRepository(t), nil)
	const n = 4
	var hosts []*fleetHost
	for i := range n {
		h := fleetNewHost(t, fmt.Sprintf("host%d", i+1))
		h.repoFile(t, []string{m.repoURL(m.base)})
		hosts = append(hosts, h)
	}
	off := m.logOffset(t)
	times := fleetInstallAll(t, hosts, m.repo)
	for _, h := range hosts {
		h.checkDownloads(t, m.repo)
	}
	o := m.originBytes(t, off)
	t.Logf("without agents: %d hosts took %v; the origin sent %s of packages = %.2f copies of the %d packages (%s); dnf times %v",
		n, slicesMax(times), fleetMiB(o.total), m.copies(o.total), len(m.repo.pkgs), fleetMiB(m.repo.total), times)
	if want := n * m.repo.total; o.total != want || o.dnf != want {
		t.Errorf("the origin sent %d bytes of packages (%d to dnf), want exactly %d copies of %d = %d, all to dnf", o.total, o.dnf, n, m.repo.total, want)
	}
}

// TestFleet is the fleet on one machine: 4 agents, each its own process
// with its own port and store, and 4 dnf hosts with local-first repo
// files, installing the same transaction at the same time. Every dnf
// succeeds (it verified every checksum), every package has the bytes
// rpmbuild made, and the origin sends at most 1.2 copies of the package
// bytes in all (4 without agents: TestFleetBaseline). The agents are the
// plain build, the one that ships (see fleetAgentBinary).
func TestFleet(t *testing.T) {
	fleetLong(t, true)
	m := fleetSwarm(t)
	const n = 4
	var agents []*fleetAgent
	var hosts []*fleetHost
	for i := range n {
		a := fleetStartAgent(t, fleetAgentBinary(t, false), fmt.Sprintf("agent%d", i+1), "", []string{m.base + "/"})
		h := fleetNewHost(t, fmt.Sprintf("host%d", i+1))
		h.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
		agents, hosts = append(agents, a), append(hosts, h)
	}
	off := m.logOffset(t)
	times := fleetInstallAll(t, hosts, m.repo)
	for _, h := range hosts {
		h.checkDownloads(t, m.repo)
	}
	o := m.originBytes(t, off)
	t.Logf("with %d agents: %d hosts took %v (dnf times %v); the origin sent %s of packages = %.2f copies (%s to agents, %s to dnf itself); offload %.0f%%",
		n, n, slicesMax(times), times, fleetMiB(o.total), m.copies(o.total), fleetMiB(o.others), fleetMiB(o.dnf),
		100*(1-float64(o.total)/float64(n*m.repo.total)))
	var peers float64
	for _, a := range agents {
		s := a.sources(t)
		peers += s.peers
		t.Logf("%s /metrics: %v", a.name, s)
	}
	t.Logf("agents' bytes from peers: %.1f MiB of %s downloaded by the fleet", peers/(1<<20), fleetMiB(n*m.repo.total))
	// 1.2, not the 1.5 of issue 12: with each piece ranked to one host
	// (fill), the origin sent 1.00 copies in every run here, under load
	// too; hosts picking pieces from spread starts sent 1.21-1.37.
	if limit := m.repo.total * 6 / 5; o.total > limit {
		t.Errorf("the origin sent %.2f copies of the package bytes (%d bytes), want at most 1.2 copies (%d bytes)", m.copies(o.total), o.total, limit)
	}
	for _, a := range agents {
		a.proc.stopClean(t)
	}
}

// TestFleetAgentKilled kills the agent (SIGKILL) while dnf downloads
// through it: dnf finishes through the repo file's second URL.
func TestFleetAgentKilled(t *testing.T) {
	fleetLong(t, true)
	dnf := fleetNeed(t, "dnf")
	m := fleetSwarm(t)
	a := fleetStartAgent(t, fleetAgentBinary(t, true), "agent", "", []string{m.base + "/"})
	h := fleetNewHost(t, "host")
	h.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
	off := m.logOffset(t)
	done := make(chan error, 1)
	go func() {
		_, err := h.install(t.Context(), dnf, m.repo.names())
		done <- err
	}()
	// Kill it once it has its first package bytes.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := a.metrics()
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		got := s[`pkgtorrent_agent_bytes_total{source="peers"}`] + s[`pkgtorrent_agent_bytes_total{source="origin"}`] +
			s[`pkgtorrent_agent_bytes_total{source="fallback"}`]
		if got > 0 {
			t.Logf("killing %s after %.1f MiB", a.name, got/(1<<20))
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
	a.proc.kill()
	select {
	case err := <-done:
		t.Fatalf("dnf ended (%v) as the agent was killed: not mid-transaction", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("after the agent was killed: %v\n%s", err, fleetTail(h.log, 3000))
	}
	h.checkDownloads(t, m.repo)
	o := m.originBytes(t, off)
	t.Logf("dnf took %d packages (%s) through the second URL after the kill; the agent had fetched %s", len(o.dnfFiles), fleetMiB(o.dnf), fleetMiB(o.others))
	if len(o.dnfFiles) == 0 {
		t.Errorf("dnf fetched no package through the second URL: the kill did not happen mid-transaction")
	}
}

// TestFleetTrackerDown lists a tracker that is not running: the agent's
// downloads finish from the web seed (the mirror). Its time against plain
// dnf without agent is logged; the "at most 2 s slower" is a
// benchmark figure, and the test only bounds it generously. The agent is
// the plain build, the one that ships (see fleetAgentBinary).
func TestFleetTrackerDown(t *testing.T) {
	fleetLong(t, true)
	dnf := fleetNeed(t, "dnf")
	repo := fleetRepository(t)
	// A port nobody listens on, TCP or UDP.
	m := fleetStartMirror(t, repo, []string{fleetAnnounce(fleetPort(t))})

	plain := fleetNewHost(t, "plain")
	plain.repoFile(t, []string{m.repoURL(m.base)})
	plainTime, err := plain.install(t.Context(), dnf, repo.names())
	if err != nil {
		t.Fatalf("plain dnf: %v", err)
	}
	plain.checkDownloads(t, repo)

	a := fleetStartAgent(t, fleetAgentBinary(t, false), "agent", "", []string{m.base + "/"})
	h := fleetNewHost(t, "host")
	h.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
	off := m.logOffset(t)
	agentTime, err := h.install(t.Context(), dnf, repo.names())
	if err != nil {
		t.Fatalf("with the tracker down: %v", err)
	}
	h.checkDownloads(t, repo)
	o := m.originBytes(t, off)
	s := a.sources(t)
	t.Logf("tracker down: dnf through the agent took %v, plain dnf %v: %+.1f s; the agent: %v; origin sent %s to the agent, %s to dnf itself",
		agentTime.Round(time.Millisecond), plainTime.Round(time.Millisecond), (agentTime - plainTime).Seconds(), s, fleetMiB(o.others), fleetMiB(o.dnf))
	if len(o.dnfFiles) != 0 {
		t.Errorf("dnf fetched %d packages itself (%s): the agent did not deliver them with the tracker down", len(o.dnfFiles), fleetMiB(o.dnf))
	}
	if o.others < repo.total {
		t.Errorf("the agent fetched %d bytes of packages from the mirror, want all %d: with no tracker and no peer, the mirror is the only source", o.others, repo.total)
	}
	if d := agentTime - plainTime; d > 30*time.Second {
		t.Errorf("with the tracker down, dnf through the agent took %v more than plain dnf, want well under 30 s (the goal is 2 s)", d)
	}
	a.proc.stopClean(t)
}

// TestFleetCorruptStore corrupts a finished file in the agent's store
// while the agent is stopped (same size, same mtime): after a restart,
// dnf gets the right bytes and the agent fetched the file again.
func TestFleetCorruptStore(t *testing.T) {
	fleetLong(t, true)
	dnf := fleetNeed(t, "dnf")
	m := fleetSwarm(t)
	a := fleetStartAgent(t, fleetAgentBinary(t, true), "agent", "", []string{m.base + "/"})
	h1 := fleetNewHost(t, "host1")
	h1.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
	if _, err := h1.install(t.Context(), dnf, m.repo.names()); err != nil {
		t.Fatalf("before the corruption: %v", err)
	}
	h1.checkDownloads(t, m.repo)
	a.proc.stopClean(t)

	// The largest package that the store holds with its bytes.
	var victim fleetPkg
	var victimFile string
	files := fleetFilesIn(t, a.store)
	for _, p := range m.repo.pkgs {
		if p.size <= victim.size {
			continue
		}
		for _, paths := range files {
			for _, f := range paths {
				if fi, err := os.Stat(f); err != nil || fi.Size() != p.size {
					continue
				}
				if sum, _, err := fleetFileSHA256(f); err == nil && sum == p.sha256 {
					victim, victimFile = p, f
				}
			}
		}
	}
	if victimFile == "" {
		t.Fatalf("the agent's store %s holds no package with its bytes after a download: %v", a.store, files)
	}
	fleetCorrupt(t, victimFile)
	t.Logf("corrupted %s (%s) in the store", victimFile, victim.file)

	a.start(t)
	h2 := fleetNewHost(t, "host2")
	h2.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
	off := m.logOffset(t)
	if _, err := h2.install(t.Context(), dnf, m.repo.names()); err != nil {
		t.Fatalf("after the corruption: %v", err)
	}
	h2.checkDownloads(t, m.repo)
	var again, others int64
	refetched := map[string]bool{}
	for _, l := range m.accessLogLines(t, off) {
		if l.method != http.MethodGet || l.fromDNF() || !strings.HasSuffix(l.path, ".rpm") || strings.Contains(l.path, "/"+fleetService+"/") {
			continue
		}
		if l.path == m.repo.urlPath(victim) {
			again += l.bytes
		} else if l.bytes > 0 {
			others += l.bytes
			refetched[l.path] = true
		}
	}
	o := m.originBytes(t, off)
	t.Logf("after the restart the agent fetched %s of the corrupted %s (%s) again, and %s of %d other packages; dnf fetched %d packages itself; the agent: %v",
		fleetMiB(again), victim.file, fleetMiB(victim.size), fleetMiB(others), len(refetched), len(o.dnfFiles), a.sources(t))
	if again == 0 {
		t.Errorf("the agent did not fetch the corrupted %s again from the origin after its restart", victim.file)
	}
	if o.dnfFiles[m.repo.urlPath(victim)] {
		t.Errorf("dnf fetched %s itself: the agent did not serve the file it had to fetch again", victim.file)
	}
	if sum, _, err := fleetFileSHA256(victimFile); err == nil && sum != victim.sha256 {
		t.Errorf("after the new download, the store's %s still has wrong bytes (sha256 %s)", victimFile, sum)
	}
	a.proc.stopClean(t)
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
	m := fleetStartMirror(t, fleetRepository(t), nil)
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
	a := fleetStartAgent(t, fleetAgentBinary(t, true), "agent", "", []string{m.repoURL(m.base)})
	off := m.logOffset(t)
	host := strings.TrimPrefix(m.base, "http://")
	tlsHost := strings.TrimPrefix(m.tlsBase, "https://")
	pkg := m.repo.urlPath(m.repo.pkgs[0])
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
		{"outside the allowed folder with dot-dot", "/m/http/" + host + "/" + fleetRepoPath + "/../../etc/passwd.rpm"},
		{"outside the allowed folder with encoded dot-dot", "/m/http/" + host + "/" + fleetRepoPath + "/%2e%2e/%2E%2E/etc/passwd.rpm"},
		{"another scheme", "/m/ftp/" + host + pkg},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, err := http.NewRequest(method, a.base+c.path, nil)
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
	repomd := m.agentRepoURL(a.base, m.base) + "repodata/repomd.xml"
	resp, err := client.Get(repomd)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, err := os.ReadFile(filepath.Join(m.repo.root, filepath.FromSlash(fleetRepoPath), "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Errorf("GET %s: %s with %d bytes, want 200 with repomd.xml's %d bytes", repomd, resp.Status, len(got), len(want))
	}
	if n := dialed.Load(); n != 0 {
		t.Errorf("the agent connected %d times to %s, a mirror it was not told about", n, canary.Addr())
	}
	for _, l := range m.accessLogLines(t, off) {
		if !strings.HasSuffix(l.path, "/repodata/repomd.xml") {
			t.Errorf("the mirror got %s %s %s (%s) from a request the agent had to refuse", l.scheme, l.method, l.path, l.agent)
		}
	}
}

// TestFleetHTTPS gives the agent an https mirror with a test certificate
// it is told to trust (-ca-file): the agent fetches it itself, over TLS.
func TestFleetHTTPS(t *testing.T) {
	fleetLong(t, true)
	dnf := fleetNeed(t, "dnf")
	m := fleetSwarm(t)
	a := fleetStartAgent(t, fleetAgentBinary(t, true), "agent", "", []string{m.tlsBase + "/"}, "-ca-file", m.certFile)
	h := fleetNewHost(t, "host")
	h.repoFile(t, []string{m.agentRepoURL(a.base, m.tlsBase), m.repoURL(m.tlsBase)}, "sslcacert="+m.certFile)
	off := m.logOffset(t)
	if _, err := h.install(t.Context(), dnf, m.repo.names()); err != nil {
		t.Fatal(err)
	}
	h.checkDownloads(t, m.repo)
	o := m.originBytes(t, off)
	var https, plain int64
	for _, l := range m.accessLogLines(t, off) {
		if !l.fromDNF() && strings.HasSuffix(l.path, ".rpm") {
			if l.scheme == "https" {
				https += l.bytes
			} else {
				plain += l.bytes
			}
		}
	}
	t.Logf("https mirror: the agent fetched %s over https (%s over http); dnf fetched %d packages itself; the agent: %v",
		fleetMiB(https), fleetMiB(plain), len(o.dnfFiles), a.sources(t))
	if len(o.dnfFiles) != 0 {
		t.Errorf("dnf fetched %d packages itself (%s): the agent did not fetch the https mirror", len(o.dnfFiles), fleetMiB(o.dnf))
	}
	if o.others < m.repo.total || plain != 0 {
		t.Errorf("the agent fetched %d bytes of packages from the mirror (%d over plain http), want all %d, over https", o.others, plain, m.repo.total)
	}
	a.proc.stopClean(t)
}

// TestFleetStoreFull puts the agent's store on a 2 MiB tmpfs, too small
// for most packages: dnf still gets its packages, and the agent lives on.
func TestFleetStoreFull(t *testing.T) {
	fleetLong(t, true)
	if os.Geteuid() != 0 {
		t.Fatalf("TestFleetStoreFull mounts a tmpfs under the agent's store: run the tests as root (as `make test` on a fresh machine does)")
	}
	dnf := fleetNeed(t, "dnf")
	m := fleetSwarm(t)
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
	a := fleetStartAgent(t, fleetAgentBinary(t, true), "agent", store, []string{m.base + "/"})
	h := fleetNewHost(t, "host")
	h.repoFile(t, []string{m.agentRepoURL(a.base, m.base), m.repoURL(m.base)})
	off := m.logOffset(t)
	d, err := h.install(t.Context(), dnf, m.repo.names())
	if err != nil {
		t.Fatalf("with the store's disk full: %v", err)
	}
	h.checkDownloads(t, m.repo)
	if a.proc.exited() {
		t.Errorf("the agent exited (%v) with its store's disk full%s", a.proc.err, fleetCrash(a.log))
	}
	o := m.originBytes(t, off)
	var st syscall.Statfs_t
	if err := syscall.Statfs(store, &st); err == nil {
		t.Logf("store: %d of %d KiB free", st.Bfree*uint64(st.Bsize)>>10, st.Blocks*uint64(st.Bsize)>>10)
	}
	t.Logf("store full: dnf took %v; %d packages (%s) came through the agent's fetches (%s from the origin), %d packages (%s) through dnf's second URL; the agent: %v",
		d.Round(time.Millisecond), len(m.repo.pkgs)-len(o.dnfFiles), fleetMiB(m.repo.total-o.dnf), fleetMiB(o.others), len(o.dnfFiles), fleetMiB(o.dnf), a.sources(t))
	if !a.proc.exited() {
		a.proc.stopClean(t)
	}
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m.Round(time.Millisecond)
}
