package main

// The real-programs harness of the fleet tests (fleet_test.go): RPMs built
// with rpmbuild and a repository made by createrepo_c, nginx under the
// shipped configuration with the real pkgtorrent-service behind it over
// FastCGI, opentracker, the real agent binary, and dnf "hosts" that each
// have their own installroot, cache and repo file. Parts of it follow
// cmd/pkgtorrent-service's e2e helpers, which live in another module's
// test package and cannot be imported.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// fleetRepoRoot is the repository root (cmd/pkgtorrent-agent is two
	// folders down), where the service is built and httpd-conf/ is read.
	fleetRepoRoot   = "../.."
	fleetNginxConf  = fleetRepoRoot + "/httpd-conf/nginx-pkgtorrent-service.conf"
	fleetNginxHTTP  = fleetRepoRoot + "/httpd-conf/nginx-pkgtorrent-service-http.conf"
	fleetService    = "torrent_service"
	fleetRepoPath   = "repo/el9/x86_64" // the dnf repository under nginx's root
	fleetPackages   = 30
	fleetSeed       = 12 // of the payloads: the same sizes in every run
	fleetMinPayload = 1 << 20
	fleetMaxPayload = 8 << 20
)

// fleetTool is a program the fleet tests drive and the Debian package
// that installs it.
type fleetTool struct {
	what  string   // as named in the failure message
	pkg   string   // Debian package
	paths []string // where to look besides PATH
}

var fleetTools = map[string]fleetTool{
	"go":           {"the Go toolchain", "golang (or Go from go.dev)", nil},
	"nginx":        {"nginx", "nginx-light", []string{"/usr/sbin/nginx"}},
	"opentracker":  {"opentracker", "opentracker", nil},
	"dnf":          {"dnf", "dnf (with python3-dnf)", nil},
	"rpmbuild":     {"rpmbuild", "rpm", nil},
	"createrepo_c": {"createrepo_c", "createrepo-c", nil},
	"unshare":      {"unshare", "util-linux", []string{"/usr/bin/unshare"}},
	"ip":           {"ip", "iproute2", []string{"/usr/sbin/ip", "/sbin/ip"}},
	"tc":           {"tc", "iproute2", []string{"/usr/sbin/tc", "/sbin/tc"}},
}

// fleetSharedHostname is set once the test said that the agents share
// the machine's host name.
var fleetSharedHostname atomic.Bool

// fleetNeed returns the path of a program the test needs, or fails the
// test with one line naming the Debian package: the tests never skip
// because a program is missing.
func fleetNeed(t testing.TB, name string) string {
	t.Helper()
	tool, ok := fleetTools[name]
	if !ok {
		t.Fatalf("fleetNeed: unknown tool %q", name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range tool.paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	t.Fatalf("%s is missing (%s not in PATH): install the Debian package %s (`make deps` installs it)", tool.what, name, tool.pkg)
	return ""
}

// fleetOnce holds what is built once per test run, and removed by
// fleetCleanup.
var fleetOnce struct {
	service, agent, agentRace, repo, benchRepo fleetBuild
	mu                                         sync.Mutex
	dirs                                       []string
}

type fleetBuild struct {
	once sync.Once
	path string
	err  error
}

// fleetTempDir makes a folder that lives until the test run ends,
// readable by the web server's user.
func fleetTempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	fleetOnce.mu.Lock()
	fleetOnce.dirs = append(fleetOnce.dirs, dir)
	fleetOnce.mu.Unlock()
	return dir, os.Chmod(dir, 0o755)
}

func fleetCleanup() {
	fleetOnce.mu.Lock()
	defer fleetOnce.mu.Unlock()
	for _, d := range fleetOnce.dirs {
		os.RemoveAll(d)
	}
	fleetOnce.dirs = nil
}

// run runs build once per test run; t.Logf is safe from any goroutine.
func (b *fleetBuild) run(t testing.TB, what string, build func() (string, error)) {
	b.once.Do(func() {
		start := time.Now()
		b.path, b.err = build()
		if b.err == nil {
			t.Logf("built %s in %v", what, time.Since(start).Round(time.Millisecond))
		}
	})
}

// do runs build once per test run and fails the test when it failed.
func (b *fleetBuild) do(t testing.TB, what string, build func() (string, error)) string {
	t.Helper()
	b.run(t, what, build)
	if b.err != nil {
		t.Fatalf("building %s: %v", what, b.err)
	}
	return b.path
}

const (
	fleetServiceWhat = "pkgtorrent-service"
	fleetAgentWhat   = "pkgtorrent-agent"
	fleetRaceWhat    = "pkgtorrent-agent -race"
)

var fleetRepoWhat = fmt.Sprintf("%d RPMs and their repository", fleetPackages)

// fleetPrepare builds, at the same time, what the test needs and this
// test run has not built yet: the repository, the service and, when
// agent is set, the agent.
func fleetPrepare(t testing.TB, agent bool) {
	t.Helper()
	repo, service := fleetRepoBuilder(t, fleetTestSpec(), &fleetBuiltRepo), fleetServiceBuilder(t)
	var wg sync.WaitGroup
	wg.Go(func() { fleetOnce.repo.run(t, fleetRepoWhat, repo) })
	wg.Go(func() { fleetOnce.service.run(t, fleetServiceWhat, service) })
	if agent {
		plain, race := fleetAgentBuilder(t, false), fleetAgentBuilder(t, true)
		wg.Go(func() { fleetOnce.agent.run(t, fleetAgentWhat, plain) })
		wg.Go(func() { fleetOnce.agentRace.run(t, fleetRaceWhat, race) })
	}
	wg.Wait()
	fleetRepository(t)
	fleetServiceBinary(t)
	if agent {
		fleetAgentBinary(t, false)
		fleetAgentBinary(t, true)
	}
}

// fleetGoBuild builds the Go package pkg in the module at dir.
func fleetGoBuild(goTool, dir, pkg, out string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, pkg)...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(cmd.Args[1:], " "), dir, err, b)
	}
	return nil
}

// fleetServiceBinary builds pkgtorrent-service from the repository root.
// Not with -race: its own end-to-end tests run it so; here it serves.
func fleetServiceBinary(t testing.TB) string {
	t.Helper()
	return fleetOnce.service.do(t, fleetServiceWhat, fleetServiceBuilder(t))
}

func fleetServiceBuilder(t testing.TB) func() (string, error) {
	t.Helper()
	goTool := fleetNeed(t, "go")
	return func() (string, error) {
		dir, err := fleetTempDir("pkgtorrent-fleet-service-")
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, "pkgtorrent-service")
		return out, fleetGoBuild(goTool, fleetRepoRoot, "./cmd/pkgtorrent-service", out, false)
	}
}

// fleetAgentBinary builds pkgtorrent-agent from this module, once per
// test run, with -race or without. The fault tests run the -race build:
// a race it reports fails the test (see fleetStartAgent). The tests that
// measure the fleet (origin copies, time) run the plain build, the one
// that ships: -race slows the agent several-fold, which changes what its
// timing policy (origin-after, stall) decides, and so the figures.
func fleetAgentBinary(t testing.TB, race bool) string {
	t.Helper()
	if race {
		return fleetOnce.agentRace.do(t, fleetRaceWhat, fleetAgentBuilder(t, true))
	}
	return fleetOnce.agent.do(t, fleetAgentWhat, fleetAgentBuilder(t, false))
}

func fleetAgentBuilder(t testing.TB, race bool) func() (string, error) {
	t.Helper()
	goTool := fleetNeed(t, "go")
	return func() (string, error) {
		dir, err := fleetTempDir("pkgtorrent-fleet-agent-")
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, "pkgtorrent-agent")
		return out, fleetGoBuild(goTool, ".", ".", out, race)
	}
}

// fleetPkg is one package of the test repository.
type fleetPkg struct {
	name   string // package name
	file   string // file name under Packages/
	size   int64  // of the .rpm
	sha256 string // of the .rpm, as built
}

// fleetRepo is the test repository: fleetPackages noarch RPMs with
// incompressible payloads, and createrepo_c's metadata.
type fleetRepo struct {
	root  string // nginx's document root
	pkgs  []fleetPkg
	total int64 // bytes of all .rpm files
}

// names returns the package names, as dnf install takes them.
func (r *fleetRepo) names() []string {
	var n []string
	for _, p := range r.pkgs {
		n = append(n, p.name)
	}
	return n
}

// urlPath returns the URL path of a package file.
func (r *fleetRepo) urlPath(p fleetPkg) string {
	return "/" + fleetRepoPath + "/Packages/" + p.file
}

// fleetRepoSpec says what a test repository holds: packages named
// prefix01, prefix02... with payloads of the given sizes, random bytes
// from seed (the same in every run, so the same figures).
type fleetRepoSpec struct {
	prefix string
	seed   uint64
	sizes  []int64
}

// fleetTestSpec is the fleet tests' repository: fleetPackages packages
// of 1 to 8 MiB.
func fleetTestSpec() fleetRepoSpec {
	rng := mrand.New(mrand.NewPCG(fleetSeed, fleetSeed))
	s := fleetRepoSpec{prefix: "fleet-pkg", seed: fleetSeed}
	for range fleetPackages {
		s.sizes = append(s.sizes, fleetMinPayload+rng.Int64N(fleetMaxPayload-fleetMinPayload+1))
	}
	return s
}

var fleetBuiltRepo, fleetBuiltBenchRepo *fleetRepo

// fleetRepository builds the fleet tests' repository once per test run.
func fleetRepository(t testing.TB) *fleetRepo {
	t.Helper()
	fleetOnce.repo.do(t, fleetRepoWhat, fleetRepoBuilder(t, fleetTestSpec(), &fleetBuiltRepo))
	return fleetBuiltRepo
}

func fleetRepoBuilder(t testing.TB, spec fleetRepoSpec, built **fleetRepo) func() (string, error) {
	t.Helper()
	rpmbuild := fleetNeed(t, "rpmbuild")
	createrepo := fleetNeed(t, "createrepo_c")
	return func() (string, error) {
		r, err := fleetBuildRepo(rpmbuild, createrepo, spec)
		*built = r
		if r == nil {
			return "", err
		}
		return r.root, err
	}
}

func fleetBuildRepo(rpmbuild, createrepo string, spec fleetRepoSpec) (*fleetRepo, error) {
	top, err := fleetTempDir("pkgtorrent-fleet-repo-")
	if err != nil {
		return nil, err
	}
	build := filepath.Join(top, "build")
	src := filepath.Join(build, "SOURCES")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	// Deterministic payloads: the same sizes, so the same figures, in
	// every run; random bytes, so that nothing compresses them.
	chacha := mrand.NewChaCha8([32]byte{byte(spec.seed)})
	var specText strings.Builder
	specText.WriteString(`Name: pkgtorrent-fleet
Version: 1.0
Release: 1
Summary: Packages of pkgtorrent-agent's fleet test
License: MIT
BuildArch: noarch
%global debug_package %{nil}
%global __os_install_post %{nil}
%description
Packages of pkgtorrent-agent's fleet test: each installs one file of random bytes.
%prep
%build
%install
mkdir -p %{buildroot}/opt/pkgtorrent-fleet
cp -p %{_sourcedir}/*.bin %{buildroot}/opt/pkgtorrent-fleet/
`)
	r := &fleetRepo{root: filepath.Join(top, "www")}
	for i, size := range spec.sizes {
		name := fmt.Sprintf("%s%02d", spec.prefix, i+1)
		payload := make([]byte, size)
		chacha.Read(payload)
		if err := os.WriteFile(filepath.Join(src, name+".bin"), payload, 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&specText, "%%package -n %[1]s\nSummary: fleet test package %[1]s\n%%description -n %[1]s\n%[2]d random bytes.\n%%files -n %[1]s\n/opt/pkgtorrent-fleet/%[1]s.bin\n",
			name, size)
		r.pkgs = append(r.pkgs, fleetPkg{name: name, file: name + "-1.0-1.noarch.rpm"})
	}
	specFile := filepath.Join(build, "fleet.spec")
	if err := os.WriteFile(specFile, []byte(specText.String()), 0o644); err != nil {
		return nil, err
	}
	repoDir := filepath.Join(r.root, filepath.FromSlash(fleetRepoPath))
	pkgDir := filepath.Join(repoDir, "Packages")
	cmd := exec.Command(rpmbuild, "-bb", "--quiet",
		"--define", "_topdir "+build,
		"--define", "_sourcedir "+src,
		"--define", "_rpmdir "+pkgDir,
		"--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
		// Stored, not compressed: the payload keeps its size.
		"--define", "_binary_payload w0.ufdio",
		specFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if err := os.RemoveAll(build); err != nil {
		return nil, err
	}
	if out, err := exec.Command(createrepo, "--quiet", repoDir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("createrepo_c %s: %w\n%s", repoDir, err, out)
	}
	for i := range r.pkgs {
		p := &r.pkgs[i]
		sum, size, err := fleetFileSHA256(filepath.Join(pkgDir, p.file))
		if err != nil {
			return nil, fmt.Errorf("rpmbuild did not make the expected file: %w", err)
		}
		p.sha256, p.size = sum, size
		r.total += size
	}
	// nginx runs as www-data when the tests run as root.
	err = filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	})
	return r, err
}

func fleetFileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

var fleetPorts struct {
	sync.Mutex
	used map[int]bool
}

// fleetPort returns a free TCP port on 127.0.0.1 (also free for UDP),
// never the same twice in one test run.
func fleetPort(t testing.TB) int {
	t.Helper()
	fleetPorts.Lock()
	defer fleetPorts.Unlock()
	if fleetPorts.used == nil {
		fleetPorts.used = make(map[int]bool)
	}
	// Below the kernel's ephemeral range (32768-60999 here), which it
	// hands to any process's sockets at any time: a port picked there
	// (as a listener on port 0 would) can be taken by another test's
	// client before the server that needs it binds it.
	for range 1000 {
		port := 20000 + mrand.IntN(12000)
		if fleetPorts.used[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		fleetPorts.used[port] = true
		return port
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// fleetNode is where a process of the fleet runs: on this machine's
// loopback (the tests), or in a network namespace of the benchmark's
// simulated network (fleet_bench_test.go), where its servers listen on
// the namespace's address.
type fleetNode struct {
	ns   string // network namespace; "" for the test's own
	addr string // the address its servers listen on
	next *atomic.Int32
}

// fleetLoopback is the tests' node: 127.0.0.1 in the test's namespace.
var fleetLoopback = fleetNode{addr: "127.0.0.1"}

// command returns the command that runs name with args on the node.
func (n fleetNode) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if n.ns != "" {
		args = append([]string{"netns", "exec", n.ns, name}, args...)
		name = "ip"
	}
	if ctx == nil {
		return exec.Command(name, args...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// port returns a TCP and UDP port free on the node: fleetPort on the
// loopback; in a namespace, which only the benchmark's processes use,
// the next one from 20000 on.
func (n fleetNode) port(t testing.TB) int {
	if n.ns == "" {
		return fleetPort(t)
	}
	return 20000 + int(n.next.Add(1))
}

// url returns http://addr:port.
func (n fleetNode) url(port int) string {
	return "http://" + net.JoinHostPort(n.addr, strconv.Itoa(port))
}

// fleetProc is a long-running process of a test, in its own process
// group, stopped when the test ends.
type fleetProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// fleetStart starts cmd in a new process group with stdout and stderr
// appended to log, and stops the group when the test ends (SIGTERM, then
// SIGKILL after 10 s). Its log is shown when the test fails.
func fleetStart(t testing.TB, name string, cmd *exec.Cmd, log string) *fleetProc {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: when the test process is killed before its cleanups
	// run, the server still gets its SIGTERM instead of living on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &fleetProc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	fleetShowLogOnFailure(t, name+" log", log)
	t.Cleanup(p.stop)
	return p
}

// stop ends the process group: SIGTERM, then SIGKILL after 10 s.
func (p *fleetProc) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// kill ends the process group with SIGKILL and waits for the leader.
func (p *fleetProc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// stopClean sends SIGTERM and requires the process to exit with status 0
// within 10 s, as a daemon that stops cleanly does.
func (p *fleetProc) stopClean(t testing.TB) {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s after SIGTERM: %v, want exit status 0", p.name, p.err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit within 10 s of SIGTERM", p.name)
		p.kill()
	}
	t.Logf("%s stopped in %v", p.name, time.Since(start).Round(time.Millisecond))
}

func (p *fleetProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// fleetWait polls ready every 50 ms until it returns nil, and fails the
// test when the deadline passes or one of procs exits first.
func fleetWait(t testing.TB, what string, timeout time.Duration, ready func() error, procs ...*fleetProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s: %s exited (%v) before it was ready; its log:\n%s", what, p.name, p.err, fleetTail(p.log, 4000))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fleetCrash returns the start of a Go crash report (a panic or a fatal
// error, with the stack of the goroutine that crashed) in a log, or "".
func fleetCrash(log string) string {
	b, err := os.ReadFile(log)
	if err != nil {
		return ""
	}
	i := -1
	for _, m := range []string{"panic: ", "fatal error: ", "unexpected fault address", "SIGSEGV", "SIGBUS"} {
		if j := bytes.Index(b, []byte(m)); j >= 0 && (i < 0 || j < i) {
			i = j
		}
	}
	if i < 0 {
		return ""
	}
	if j := bytes.LastIndexByte(b[:i], '\n'); j >= 0 {
		i = j + 1
	}
	return "; it crashed:\n" + string(b[i:min(len(b), i+4000)])
}

// fleetShowLogOnFailure shows the end of a log when the test fails.
func fleetShowLogOnFailure(t testing.TB, name, path string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s (%s) ---\n%s", name, path, fleetTail(path, 6000))
		}
	})
}

// fleetTail returns the last n bytes of a file, or why it cannot.
func fleetTail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		return "[...]\n" + string(b[int64(len(b))-n:])
	}
	return string(b)
}

func fleetWriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fleetWebUser is the user nginx's workers run as when the tests run as
// root; nil otherwise.
func fleetWebUser(t testing.TB) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("www-data")
	if err != nil {
		t.Fatalf("running as root, nginx needs the user www-data: %v", err)
	}
	for d := filepath.Clean(os.TempDir()); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("running as root, nginx runs as www-data and must reach the test's files under %s, but %s is not searchable by others: set TMPDIR to a folder they can reach, such as /tmp", os.TempDir(), d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return u
}

// fleetShare makes dir and the folders above it under the temporary
// folder traversable by nginx's user.
func fleetShare(t testing.TB, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir()) + string(filepath.Separator)
	for d := filepath.Clean(dir); strings.HasPrefix(d, tmp); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// fleetWritable creates dir and gives it to nginx's user.
func fleetWritable(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if u := fleetWebUser(t); u != nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fleetReplace returns text with each old string replaced by its new one,
// failing the test when an old string is not in text: the shipped
// configuration must still contain what the test substitutes.
func fleetReplace(t testing.TB, file, text string, oldnew ...string) string {
	t.Helper()
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(text, oldnew[i]) {
			t.Fatalf("%s no longer contains %q, which the test substitutes", file, oldnew[i])
		}
		text = strings.ReplaceAll(text, oldnew[i], oldnew[i+1])
	}
	return text
}

// fleetCert writes a self-signed certificate for the address ip into dir.
func fleetCert(t testing.TB, dir, ip string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: ip},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	fleetWriteFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// fleetMirror is nginx serving the test repository under the shipped
// configuration, with pkgtorrent-service behind it over FastCGI.
type fleetMirror struct {
	repo      *fleetRepo
	base      string // http://127.0.0.1:port
	tlsBase   string // https://127.0.0.1:port
	certFile  string // the TLS certificate, which is its own CA
	accessLog string
	client    *http.Client
}

// repoURL returns the repository's URL on base (with a final slash).
func (m *fleetMirror) repoURL(base string) string { return base + "/" + fleetRepoPath + "/" }

// agentRepoURL returns the repository's URL through an agent.
func (m *fleetMirror) agentRepoURL(agent, base string) string {
	scheme, host, _ := strings.Cut(base, "://")
	return agent + "/m/" + scheme + "/" + host + "/" + fleetRepoPath + "/"
}

// fleetStartMirror starts the service and nginx in front of it, on two
// loopback ports (HTTP and HTTPS). trackers are the lines of the
// service's trackers file.
func fleetStartMirror(t testing.TB, repo *fleetRepo, trackers []string) *fleetMirror {
	t.Helper()
	return fleetStartMirrorOn(t, fleetLoopback, repo, trackers)
}

// fleetStartMirrorOn is fleetStartMirror on node.
func fleetStartMirrorOn(t testing.TB, node fleetNode, repo *fleetRepo, trackers []string) *fleetMirror {
	t.Helper()
	nginx := fleetNeed(t, "nginx")
	bin := fleetServiceBinary(t)
	dir := filepath.Join(t.TempDir(), "nginx")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fleetShare(t, dir)
	m := &fleetMirror{repo: repo, accessLog: filepath.Join(dir, "access.log")}

	// The service, on a FastCGI socket, with its own cache and trackers.
	cache := fleetWritable(t, filepath.Join(dir, "cache"))
	trackersFile := filepath.Join(dir, "trackers")
	fleetWriteFile(t, trackersFile, strings.Join(append([]string{"# announce URLs of the fleet test"}, trackers...), "\n")+"\n")
	settings := filepath.Join(dir, "service.conf")
	fleetWriteFile(t, settings, strings.Join([]string{"cache = " + cache, "trackers = " + trackersFile, "log-level = debug"}, "\n")+"\n")
	sock := filepath.Join(dir, "fcgi.sock")
	svc := fleetStart(t, "pkgtorrent-service", node.command(nil, bin, "-config", settings, "-fcgi", "unix:"+sock), filepath.Join(dir, "service.log"))
	fleetWait(t, "the service's FastCGI socket", 20*time.Second, func() error {
		fi, err := os.Stat(sock)
		if err == nil && fi.Mode()&os.ModeSocket == 0 {
			err = fmt.Errorf("%s is not a socket", sock)
		}
		return err
	}, svc)
	if fleetWebUser(t) != nil {
		// nginx's workers (www-data) connect to the root-owned socket.
		if err := os.Chmod(sock, 0o777); err != nil {
			t.Fatal(err)
		}
	}

	// The operator's snippet as shipped, and its http {} part talking to
	// the test's socket and cache folder.
	snippet, err := os.ReadFile(fleetNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	fleetWriteFile(t, filepath.Join(dir, "nginx-pkgtorrent-service.conf"), string(snippet))
	httpPart, err := os.ReadFile(fleetNginxHTTP)
	if err != nil {
		t.Fatal(err)
	}
	fleetWriteFile(t, filepath.Join(dir, "nginx-pkgtorrent-service-http.conf"), fleetReplace(t, fleetNginxHTTP, string(httpPart),
		"unix:/run/pkgtorrent-service.sock", "unix:"+sock,
		"/var/lib/nginx/pkgtorrent-service ", filepath.Join(dir, "fastcgi-cache")+" "))
	params, err := os.ReadFile("/etc/nginx/fastcgi_params")
	if err != nil {
		t.Fatalf("nginx's fastcgi_params: %v: install the Debian package nginx-light (`make deps` installs it)", err)
	}
	fleetWriteFile(t, filepath.Join(dir, "fastcgi_params"), string(params))

	certFile, keyFile, pool := fleetCert(t, dir, node.addr)
	m.certFile = certFile
	port, tlsPort := node.port(t), node.port(t)
	m.base = node.url(port)
	m.tlsBase = "https://" + net.JoinHostPort(node.addr, strconv.Itoa(tlsPort))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	m.client = &http.Client{Timeout: 60 * time.Second, Transport: tr}
	userLine := ""
	if u := fleetWebUser(t); u != nil {
		userLine = "user " + u.Username + ";"
	}
	tmp := fleetWritable(t, filepath.Join(dir, "tmp"))
	errorLog := filepath.Join(dir, "error.log")
	// The access log records, per request, the scheme, the request line,
	// the status, the bytes of the body sent and the user agent: the
	// origin's share of the package bytes is measured from it.
	conf := fmt.Sprintf(`# Scaffolding of the fleet test; the service's part is included.
daemon off;
master_process on;
worker_processes 1;
%[1]s
pid %[2]s/nginx.pid;
error_log %[3]s info;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format fleet '$remote_addr $scheme "$request" $status $body_bytes_sent "$http_user_agent"';
    access_log %[4]s fleet;
    client_body_temp_path %[5]s/body;
    fastcgi_temp_path %[5]s/fastcgi;
    proxy_temp_path %[5]s/proxy;
    uwsgi_temp_path %[5]s/uwsgi;
    scgi_temp_path %[5]s/scgi;
    include nginx-pkgtorrent-service-http.conf;
    server {
        listen %[11]s:%[6]d;
        listen %[11]s:%[7]d ssl;
        ssl_certificate %[8]s;
        ssl_certificate_key %[9]s;
        server_name localhost;
        root %[10]s;
        include nginx-pkgtorrent-service.conf;
    }
}
`, userLine, dir, errorLog, m.accessLog, tmp, port, tlsPort, certFile, keyFile, repo.root, node.addr)
	confFile := filepath.Join(dir, "nginx.conf")
	fleetWriteFile(t, confFile, conf)
	fleetShowLogOnFailure(t, "nginx error log", errorLog)
	p := fleetStart(t, "nginx", node.command(nil, nginx, "-p", dir+"/", "-c", confFile, "-e", errorLog), filepath.Join(dir, "nginx.out"))
	for _, base := range []string{m.base, m.tlsBase} {
		u := m.repoURL(base) + "repodata/repomd.xml"
		fleetWait(t, "nginx on "+base, 20*time.Second, func() error {
			resp, err := m.client.Get(u)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", u, resp.Status)
			}
			return nil
		}, svc, p)
	}
	return m
}

// torrentURL is where an agent gets the torrent of a package on base: the
// service's single/ endpoint under the repository's first folder.
func (m *fleetMirror) torrentURL(base string, p fleetPkg) string {
	top, _, _ := strings.Cut(fleetRepoPath, "/")
	return base + "/" + top + "/" + fleetService + "/single" + m.repo.urlPath(p)
}

// infoHashes fetches the torrent of every package from base and returns
// their info hashes (for opentracker's whitelist).
func (m *fleetMirror) infoHashes(t testing.TB, base string) []string {
	t.Helper()
	var hashes []string
	for _, p := range m.repo.pkgs {
		u := m.torrentURL(base, p)
		resp, err := m.client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v: %q", u, resp.Status, err, body)
		}
		h, err := fleetInfoHash(body)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

// fleetLogLine is one line of nginx's access log.
type fleetLogLine struct {
	scheme, method, path string
	status               int
	bytes                int64
	agent                string
}

// fromDNF reports whether the request came from dnf (librepo) itself.
func (l fleetLogLine) fromDNF() bool { return strings.HasPrefix(l.agent, "libdnf") }

// accessLog reads nginx's access log from byte offset off on.
func (m *fleetMirror) accessLogLines(t testing.TB, off int64) []fleetLogLine {
	t.Helper()
	f, err := os.Open(m.accessLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var lines []fleetLogLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 127.0.0.1 http "GET /x HTTP/1.1" 206 1024 "libdnf (...)"
		head, rest, ok1 := strings.Cut(sc.Text(), ` "`)
		req, rest, ok2 := strings.Cut(rest, `" `)
		hf, rf, parts := strings.Fields(head), strings.Fields(rest), strings.Fields(req)
		_, ua, ok3 := strings.Cut(rest, `"`)
		if !ok1 || !ok2 || !ok3 || len(hf) != 2 || len(rf) < 2 || len(parts) < 2 {
			t.Fatalf("%s: unexpected access log line %q", m.accessLog, sc.Text())
		}
		status, err1 := strconv.Atoi(rf[0])
		n, err2 := strconv.ParseInt(rf[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: unexpected access log line %q", m.accessLog, sc.Text())
		}
		p, _, _ := strings.Cut(parts[1], "?")
		lines = append(lines, fleetLogLine{hf[1], parts[0], p, status, n, strings.TrimSuffix(ua, `"`)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// logOffset returns the access log's size: lines after it are new.
func (m *fleetMirror) logOffset(t testing.TB) int64 {
	t.Helper()
	fi, err := os.Stat(m.accessLog)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// fleetOriginBytes are the package bytes nginx sent, from its access log.
type fleetOriginBytes struct {
	total, dnf, others int64            // all, to dnf itself, to anyone else (agents)
	perFile            map[string]int64 // by URL path
	dnfFiles           map[string]bool  // packages dnf fetched itself
}

// originBytes sums the body bytes of successful GETs of the repository's
// .rpm files (not the service's torrents of them) since log offset off.
func (m *fleetMirror) originBytes(t testing.TB, off int64) fleetOriginBytes {
	t.Helper()
	o := fleetOriginBytes{perFile: map[string]int64{}, dnfFiles: map[string]bool{}}
	prefix := "/" + fleetRepoPath + "/Packages/"
	for _, l := range m.accessLogLines(t, off) {
		if l.method != http.MethodGet || !strings.HasPrefix(l.path, prefix) || !strings.HasSuffix(l.path, ".rpm") {
			continue
		}
		o.total += l.bytes
		o.perFile[l.path] += l.bytes
		if l.fromDNF() {
			o.dnf += l.bytes
			if l.bytes > 0 {
				o.dnfFiles[l.path] = true
			}
		} else {
			o.others += l.bytes
		}
	}
	return o
}

// copies is the bytes as a number of copies of the repository's packages.
func (m *fleetMirror) copies(n int64) float64 { return float64(n) / float64(m.repo.total) }

// fleetTracker starts opentracker on 127.0.0.1:port (TCP and UDP),
// tracking only the given info hashes (Debian builds it with a
// whitelist), and returns its announce URL.
func fleetTracker(t testing.TB, port int, infoHashes []string) {
	t.Helper()
	fleetTrackerOn(t, fleetLoopback, port, infoHashes)
}

// fleetTrackerOn is fleetTracker on node; it returns the process.
func fleetTrackerOn(t testing.TB, node fleetNode, port int, infoHashes []string) *fleetProc {
	t.Helper()
	tracker := fleetNeed(t, "opentracker")
	dir := filepath.Join(t.TempDir(), "opentracker")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// When root, opentracker chroots into -d and runs as nobody: the
	// whitelist path is relative to that folder.
	fleetShare(t, dir)
	fleetWriteFile(t, filepath.Join(dir, "whitelist"), strings.Join(infoHashes, "\n")+"\n")
	p := strconv.Itoa(port)
	cmd := node.command(nil, tracker, "-i", node.addr, "-p", p, "-P", p, "-d", dir, "-w", "whitelist")
	cmd.Dir = dir
	proc := fleetStart(t, "opentracker", cmd, filepath.Join(dir, "opentracker.log"))
	fleetWait(t, "opentracker", 20*time.Second, func() error {
		resp, err := http.Get(node.url(port) + "/stats")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}, proc)
	return proc
}

// fleetAnnounce is the announce URL of a tracker on port.
func fleetAnnounce(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/announce", port) }

// fleetSwarm is a mirror with a running tracker listed in its trackers
// file, the usual setting of the fleet tests.
func fleetSwarm(t testing.TB) *fleetMirror {
	t.Helper()
	repo := fleetRepository(t)
	trackerPort := fleetPort(t)
	m := fleetStartMirror(t, repo, []string{fleetAnnounce(trackerPort)})
	// The info hash does not depend on the scheme of the web seed URL:
	// one whitelist serves the http and the https port.
	fleetTracker(t, trackerPort, m.infoHashes(t, m.base))
	return m
}

// fleetAgent is a running pkgtorrent-agent.
type fleetAgent struct {
	node  fleetNode
	name  string
	bin   string // the binary, plain or -race (fleetAgentBinary)
	base  string // http://127.0.0.1:port
	store string
	args  []string
	log   string
	proc  *fleetProc
}

// fleetStartAgent starts the agent binary bin with its own port and store
// (under the test's folder, unless store is set) that may fetch from the
// mirrors in allow.
func fleetStartAgent(t testing.TB, bin, name, store string, allow []string, extra ...string) *fleetAgent {
	t.Helper()
	return fleetStartAgentOn(t, fleetLoopback, bin, name, store, allow, extra...)
}

// fleetStartAgentOn is fleetStartAgent on node.
func fleetStartAgentOn(t testing.TB, node fleetNode, bin, name, store string, allow []string, extra ...string) *fleetAgent {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if store == "" {
		store = filepath.Join(dir, "store")
	}
	a := &fleetAgent{node: node, name: name, bin: bin, store: store, log: filepath.Join(dir, "agent.log")}
	a.base = node.url(node.port(t))
	a.args = []string{"-listen", strings.TrimPrefix(a.base, "http://"), "-peer-port", "0", "-peer-host", node.addr, "-store", store,
		"-repos-dir", "", "-log-level", "debug"}
	for _, u := range allow {
		a.args = append(a.args, "-allow", u)
	}
	a.args = append(a.args, extra...)
	t.Cleanup(func() {
		b, err := os.ReadFile(a.log)
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); err == nil && i >= 0 {
			first := b[i:]
			if end := bytes.Index(first, []byte("\n==================")); end > 0 {
				first = first[:end]
			}
			t.Errorf("%s reported a data race in %s; the first one:\n%s", name, a.log, first[:min(len(first), 6000)])
		}
	})
	a.start(t)
	return a
}

// start (re)starts the agent's process with its arguments.
func (a *fleetAgent) start(t testing.TB) {
	t.Helper()
	name, args := a.bin, a.args
	if os.Geteuid() == 0 {
		// Each agent is a host of its own, with its own host name (from
		// which the agent spreads its timing over the fleet, as hosts
		// with different names do): a UTS namespace per agent.
		name = fleetNeed(t, "unshare")
		args = append([]string{"--uts", "/bin/sh", "-c", `hostname "$0" && exec "$@"`, a.name, a.bin}, a.args...)
	} else if !fleetSharedHostname.Swap(true) {
		t.Logf("not root: the agents share this machine's host name")
	}
	a.proc = fleetStart(t, a.name, a.node.command(nil, name, args...), a.log)
	fleetWait(t, a.name+" on "+a.base, 30*time.Second, func() error {
		resp, err := http.Get(a.base + "/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /status: %s", resp.Status)
		}
		return nil
	}, a.proc)
}

// metrics returns the agent's /metrics samples: "name{labels}" -> value.
func (a *fleetAgent) metrics() (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(a.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", a.base, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
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

// fleetSources are an agent's bytes by source, from its /metrics.
type fleetSources struct {
	peers, origin, fallback, uploaded float64
}

func (s fleetSources) total() float64 { return s.peers + s.origin + s.fallback }

func (s fleetSources) String() string {
	return fmt.Sprintf("peers %.1f MiB, origin %.1f MiB, fallback %.1f MiB, uploaded %.1f MiB",
		s.peers/(1<<20), s.origin/(1<<20), s.fallback/(1<<20), s.uploaded/(1<<20))
}

// sources reads the contract's counters from /metrics.
func (a *fleetAgent) sources(t testing.TB) fleetSources {
	t.Helper()
	var s fleetSources
	if a.proc.exited() {
		t.Errorf("%s is not running: it exited (%v)%s", a.name, a.proc.err, fleetCrash(a.log))
		return s
	}
	m, err := a.metrics()
	if err != nil {
		t.Errorf("%s: %v", a.name, err)
		return s
	}
	found := 0
	for _, c := range []struct {
		key string
		v   *float64
	}{
		{`pkgtorrent_agent_bytes_total{source="peers"}`, &s.peers},
		{`pkgtorrent_agent_bytes_total{source="origin"}`, &s.origin},
		{`pkgtorrent_agent_bytes_total{source="fallback"}`, &s.fallback},
		{`pkgtorrent_agent_uploaded_bytes_total`, &s.uploaded},
	} {
		if v, ok := m[c.key]; ok {
			*c.v = v
			found++
		}
	}
	if found < 4 {
		t.Errorf("%s: /metrics lacks some of pkgtorrent_agent_bytes_total{source=\"peers\"|\"origin\"|\"fallback\"} and pkgtorrent_agent_uploaded_bytes_total; got %v", a.name, m)
	}
	return s
}

// fleetHost is a dnf "host": its own installroot, cache, repo file and
// (empty) plugin folder.
type fleetHost struct {
	node           fleetNode
	name, dir, log string
	// opts are more dnf options, before the command.
	opts []string
	// timeout bounds one dnf run (3 minutes when zero).
	timeout time.Duration
	// cpu is the CPU time (user and system) of the last dnf run.
	cpu time.Duration
}

func fleetNewHost(t testing.TB, name string) *fleetHost {
	t.Helper()
	h := &fleetHost{node: fleetLoopback, name: name, dir: filepath.Join(t.TempDir(), name)}
	for _, d := range []string{"root", "cache", "reposd", "plugins"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.log = filepath.Join(h.dir, "dnf.log")
	fleetShowLogOnFailure(t, name+" dnf output", h.log)
	return h
}

// repoFile writes the host's repo file: baseurl lists urls in order
// (local-first: the agent, then the mirror).
func (h *fleetHost) repoFile(t testing.TB, urls []string, extra ...string) {
	t.Helper()
	text := "[fleet]\nname=pkgtorrent fleet test\nbaseurl=" + strings.Join(urls, "\n        ") +
		"\ngpgcheck=0\nrepo_gpgcheck=0\nenabled=1\nskip_if_unavailable=0\n" + strings.Join(extra, "\n") + "\n"
	fleetWriteFile(t, filepath.Join(h.dir, "reposd", "fleet.repo"), text)
}

// install runs `dnf install --downloadonly -y pkgs...` on the host. It
// may run in a goroutine: it reports, it does not fail the test.
func (h *fleetHost) install(ctx context.Context, dnf string, pkgs []string) (time.Duration, error) {
	timeout := cmp.Or(h.timeout, 3*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := []string{"--installroot=" + filepath.Join(h.dir, "root"), "--releasever=9",
		"--setopt=reposdir=" + filepath.Join(h.dir, "reposd"),
		"--setopt=cachedir=" + filepath.Join(h.dir, "cache"),
		"--setopt=pluginpath=" + filepath.Join(h.dir, "plugins")}
	args = append(append(args, h.opts...), "-y", "install", "--downloadonly")
	cmd := h.node.command(ctx, dnf, append(args, pkgs...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	f, err := os.OpenFile(h.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fmt.Fprintf(f, "$ %s\n", strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if cmd.ProcessState != nil {
		h.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("dnf did not finish within %v: %w", timeout, err)
	}
	if err != nil {
		return d, fmt.Errorf("%s: dnf install: %w (output in %s)", h.name, err, h.log)
	}
	return d, nil
}

// checkDownloads fails the test unless the host's cache holds every
// package of repo, each with the sha256 of the file rpmbuild made: an
// independent check of what dnf verified itself.
func (h *fleetHost) checkDownloads(t testing.TB, repo *fleetRepo) {
	t.Helper()
	h.checkPackages(t, repo.pkgs)
}

// checkPackages is checkDownloads for a transaction of pkgs.
func (h *fleetHost) checkPackages(t testing.TB, pkgs []fleetPkg) {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".rpm") {
			found[d.Name()] = append(found[d.Name()], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Errorf("%s: no .rpm file under %s, want the %d packages", h.name, h.dir, len(pkgs))
		return
	}
	for _, p := range pkgs {
		files := found[p.file]
		if len(files) != 1 {
			t.Errorf("%s: %d downloaded copies of %s (%q), want 1", h.name, len(files), p.file, files)
			continue
		}
		sum, size, err := fleetFileSHA256(files[0])
		if err != nil {
			t.Errorf("%s: %v", h.name, err)
		} else if sum != p.sha256 || size != p.size {
			t.Errorf("%s: %s: sha256 %s, %d bytes; the built file has %s, %d bytes", h.name, files[0], sum, size, p.sha256, p.size)
		}
		delete(found, p.file)
	}
	for name := range found {
		t.Errorf("%s: downloaded %s, which is not a package of the transaction", h.name, name)
	}
}

// fleetInstallAll runs install on every host at the same time and
// returns each one's duration, failing the test for each dnf that failed.
func fleetInstallAll(t testing.TB, hosts []*fleetHost, repo *fleetRepo) []time.Duration {
	t.Helper()
	dnf := fleetNeed(t, "dnf")
	times := make([]time.Duration, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { times[i], errs[i] = h.install(t.Context(), dnf, repo.names()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%v\n%s", err, fleetTail(hosts[i].log, 3000))
		}
	}
	return times
}

// fleetInfoHash returns the hex SHA-1 of a torrent's bencoded info.
func fleetInfoHash(torrent []byte) (string, error) {
	if len(torrent) == 0 || torrent[0] != 'd' {
		return "", errors.New("not a bencoded dictionary")
	}
	pos := 1
	for pos < len(torrent) && torrent[pos] != 'e' {
		key, next, err := fleetBencodeString(torrent, pos)
		if err != nil {
			return "", err
		}
		end, err := fleetBencodeSkip(torrent, next, 0)
		if err != nil {
			return "", err
		}
		if key == "info" {
			sum := sha1.Sum(torrent[next:end])
			return hex.EncodeToString(sum[:]), nil
		}
		pos = end
	}
	return "", errors.New("torrent has no info dictionary")
}

func fleetBencodeString(b []byte, pos int) (string, int, error) {
	colon := bytes.IndexByte(b[pos:], ':')
	if colon < 0 {
		return "", 0, io.ErrUnexpectedEOF
	}
	n, err := strconv.Atoi(string(b[pos : pos+colon]))
	start := pos + colon + 1
	if err != nil || n < 0 || start+n > len(b) {
		return "", 0, fmt.Errorf("bencode string at %d: bad length", pos)
	}
	return string(b[start : start+n]), start + n, nil
}

// fleetBencodeSkip returns the end of the bencoded value at pos.
func fleetBencodeSkip(b []byte, pos, depth int) (int, error) {
	if pos >= len(b) || depth > 64 {
		return 0, io.ErrUnexpectedEOF
	}
	switch c := b[pos]; {
	case c == 'i':
		end := bytes.IndexByte(b[pos:], 'e')
		if end < 0 {
			return 0, io.ErrUnexpectedEOF
		}
		return pos + end + 1, nil
	case c >= '0' && c <= '9':
		_, end, err := fleetBencodeString(b, pos)
		return end, err
	case c == 'l' || c == 'd':
		pos++
		for pos < len(b) && b[pos] != 'e' {
			end, err := fleetBencodeSkip(b, pos, depth+1)
			if err != nil {
				return 0, err
			}
			pos = end
		}
		if pos >= len(b) {
			return 0, io.ErrUnexpectedEOF
		}
		return pos + 1, nil
	default:
		return 0, fmt.Errorf("bencode: unexpected %q at %d", c, pos)
	}
}

// fleetFilesIn returns the regular files under dir, by base name.
func fleetFilesIn(t testing.TB, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out[d.Name()] = append(out[d.Name()], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fleetMiB formats bytes as MiB.
func fleetMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// fleetInstallPlugin puts the shipped dnf plugin and its shipped
// configuration, pointed at agent, on host h, and returns the folder of
// the configuration.
func fleetInstallPlugin(t testing.TB, h *fleetHost, plugin, conf, agent string) string {
	t.Helper()
	fleetWriteFile(t, filepath.Join(h.dir, "plugins", "pkgtorrent.py"), plugin)
	dir := filepath.Join(h.dir, "pluginconf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fleetWriteFile(t, filepath.Join(dir, "pkgtorrent.conf"),
		fleetReplace(t, "deploy/dnf/pkgtorrent.conf", conf, "#agent = http://127.0.0.1:7881", "agent = "+agent))
	h.opts = append(h.opts, "--setopt=pluginconfpath="+dir)
	return dir
}
