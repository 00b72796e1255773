package fleet

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// Host is a dnf "host": its own installroot, cache, repo file and
// (empty) plugin folder.
type Host struct {
	Node           e2e.Node
	Name, Dir, Log string
	// DNF5Root, when set, makes it a dnf 5 host: dnf is the root's dnf5
	// (see DNF5Root), and the plugin folder is its pluginconfpath.
	DNF5Root string
	// opts are more dnf options, before the command.
	Opts []string
	// Env are more environment variables of dnf (name=value).
	Env []string
	// timeout bounds one dnf run (3 minutes when zero).
	Timeout time.Duration
	// cpu is the CPU time (user and system) of the last dnf run.
	CPU time.Duration
}

func NewHost(t testing.TB, name string) *Host {
	t.Helper()
	h := &Host{Name: name, Dir: filepath.Join(t.TempDir(), name)}
	for _, d := range []string{"root", "cache", "reposd", "plugins"} {
		if err := os.MkdirAll(filepath.Join(h.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.Log = filepath.Join(h.Dir, "dnf.log")
	e2e.ShowLogOnFailure(t, name+" dnf output", h.Log)
	return h
}

// RepoFile writes the host's repo file: baseurl lists urls in order
// (local-first: the agent, then the mirror).
func (h *Host) RepoFile(t testing.TB, urls []string, extra ...string) {
	t.Helper()
	text := "[fleet]\nname=pkgtorrent fleet test\nbaseurl=" + strings.Join(urls, "\n        ") +
		"\ngpgcheck=0\nrepo_gpgcheck=0\nenabled=1\nskip_if_unavailable=0\n" + strings.Join(extra, "\n") + "\n"
	e2e.WriteFile(t, filepath.Join(h.Dir, "reposd", "fleet.repo"), text)
}

// Command returns the command that runs dnf (a dnf 5 host's dnf5, and
// then dnf is not used) on the host, with its installroot, cache, repo
// and plugin folders, then Opts, then args. ctx may be nil.
func (h *Host) Command(ctx context.Context, dnf string, args ...string) *exec.Cmd {
	plugins := "--setopt=pluginpath="
	if h.DNF5Root != "" {
		// libdnf5 loads the plugins that have a configuration file there.
		plugins = "--setopt=pluginconfpath="
	}
	all := []string{"--installroot=" + filepath.Join(h.Dir, "root"), "--releasever=9",
		"--setopt=reposdir=" + filepath.Join(h.Dir, "reposd"),
		"--setopt=cachedir=" + filepath.Join(h.Dir, "cache"),
		plugins + filepath.Join(h.Dir, "plugins")}
	all = append(append(all, h.Opts...), args...)
	if h.DNF5Root != "" {
		dnf, all = chrooted(h.DNF5Root, "dnf5", all)
	}
	cmd := h.Node.Command(ctx, dnf, all...)
	if len(h.Env) > 0 {
		cmd.Env = append(os.Environ(), h.Env...)
	}
	return cmd
}

// Install runs `dnf install --downloadonly -y pkgs...` on the host. It
// may run in a goroutine: it reports, it does not fail the test.
func (h *Host) Install(ctx context.Context, dnf string, pkgs []string) (time.Duration, error) {
	timeout := cmp.Or(h.Timeout, 3*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := h.Command(ctx, dnf, append([]string{"-y", "install", "--downloadonly"}, pkgs...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	f, err := os.OpenFile(h.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
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
		h.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("dnf did not finish within %v: %w", timeout, err)
	}
	if err != nil {
		return d, fmt.Errorf("%s: dnf install: %w (output in %s)", h.Name, err, h.Log)
	}
	return d, nil
}

// CheckDownloads fails the test unless the host's cache holds every
// package of repo, each with the sha256 of the file rpmbuild made: an
// independent check of what dnf verified itself.
func (h *Host) CheckDownloads(t testing.TB, repo *Repo) {
	t.Helper()
	h.CheckPackages(t, repo.Pkgs)
}

// CheckPackages is checkDownloads for a transaction of pkgs.
func (h *Host) CheckPackages(t testing.TB, pkgs []Pkg) {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir(h.Dir, func(p string, d fs.DirEntry, err error) error {
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
		t.Errorf("%s: no .rpm file under %s, want the %d packages", h.Name, h.Dir, len(pkgs))
		return
	}
	for _, p := range pkgs {
		files := found[p.File]
		if len(files) != 1 {
			t.Errorf("%s: %d downloaded copies of %s (%q), want 1", h.Name, len(files), p.File, files)
			continue
		}
		sum, size, err := FileSHA256(files[0])
		if err != nil {
			t.Errorf("%s: %v", h.Name, err)
		} else if sum != p.SHA256 || size != p.Size {
			t.Errorf("%s: %s: sha256 %s, %d bytes; the built file has %s, %d bytes", h.Name, files[0], sum, size, p.SHA256, p.Size)
		}
		delete(found, p.File)
	}
	for name := range found {
		t.Errorf("%s: downloaded %s, which is not a package of the transaction", h.Name, name)
	}
}

// InstallAll runs install on every host at the same time and
// returns each one's duration, failing the test for each dnf that failed.
func InstallAll(t testing.TB, hosts []*Host, repo *Repo) []time.Duration {
	t.Helper()
	dnf := e2e.Need(t, "dnf")
	times := make([]time.Duration, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { times[i], errs[i] = h.Install(t.Context(), dnf, repo.Names()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%v\n%s", err, e2e.Tail(hosts[i].Log, 3000))
		}
	}
	return times
}

// FilesIn returns the regular files under dir, by base name.
func FilesIn(t testing.TB, dir string) map[string][]string {
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

// MiB formats bytes as MiB.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ShippedPlugin reads the shipped dnf plugin and its configuration,
// deploy/dnf/pkgtorrent.py and pkgtorrent.conf, from the agent's folder,
// where its tests run.
func ShippedPlugin(t testing.TB) (plugin, conf string) {
	t.Helper()
	p, err := os.ReadFile("../../deploy/dnf/pkgtorrent.py")
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile("../../deploy/dnf/pkgtorrent.conf")
	if err != nil {
		t.Fatal(err)
	}
	return string(p), string(c)
}

// InstallPlugin puts the shipped dnf plugin and its shipped
// configuration, pointed at agent, on host h, and returns the folder of
// the configuration.
func InstallPlugin(t testing.TB, h *Host, plugin, conf, agent string) string {
	t.Helper()
	e2e.WriteFile(t, filepath.Join(h.Dir, "plugins", "pkgtorrent.py"), plugin)
	dir := filepath.Join(h.Dir, "pluginconf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e2e.WriteFile(t, filepath.Join(dir, "pkgtorrent.conf"),
		e2e.Replace(t, "deploy/dnf/pkgtorrent.conf", conf, "#agent = http://127.0.0.1:7881", "agent = "+agent))
	h.Opts = append(h.Opts, "--setopt=pluginconfpath="+dir)
	return dir
}
