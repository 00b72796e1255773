package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running process of a test (a web server, the service,
// the tracker, an agent, a seeding client), in its own process group.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // where its stdout (unless the caller set one) and stderr go
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Start starts cmd in a new process group with stdout (unless cmd.Stdout
// is set) and stderr appended to the log file, and stops the whole group
// when the test ends: SIGTERM, then SIGKILL after 10 s. The group gets
// SIGTERM too when the test process dies before its cleanups run. The
// log's end is shown when the test fails.
func Start(t testing.TB, name string, cmd *exec.Cmd, log string) *Proc {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ShowLogOnFailure(t, name+" log", log)
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the process group: SIGTERM, then SIGKILL after 10 s. The
// group id is the leader's pid; members that outlive the leader (FastCGI
// children of Apache) are signalled too.
func (p *Proc) Stop() {
	pgid := p.Cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Whatever of the group is left (a child that ignored SIGTERM).
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// Kill ends the process group with SIGKILL and waits for the leader.
func (p *Proc) Kill() {
	syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// StopClean sends SIGTERM and requires the process to exit with status 0
// within 10 s, as a daemon that stops cleanly does.
func (p *Proc) StopClean(t testing.TB) {
	t.Helper()
	start := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s after SIGTERM: %v, want exit status 0", p.Name, p.err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit within 10 s of SIGTERM", p.Name)
		p.Kill()
	}
	t.Logf("%s stopped in %v", p.Name, time.Since(start).Round(time.Millisecond))
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits until the process has ended and returns how (Wait's result
// of os/exec).
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Err is how the process ended (Wait's result); nil while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Wait polls ready every 50 ms until it returns nil, and fails the test
// when the deadline passes or one of procs exits first.
func Wait(t testing.TB, what string, timeout time.Duration, ready func() error, procs ...*Proc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		for _, p := range procs {
			if p.Exited() {
				t.Fatalf("%s: %s exited (%v) before it was ready; its log:\n%s", what, p.Name, p.err, Tail(p.Log, 4000))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Run runs a command that must finish within timeout, in its own process
// group (killed as a whole on timeout), with its command line and combined
// output appended to log. It returns stdout alone.
func Run(t testing.TB, timeout time.Duration, log string, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "$ %s %s\n", name, strings.Join(args, " "))
	var stdout bytes.Buffer
	cmd.Stdout = io.MultiWriter(&stdout, f)
	cmd.Stderr = f
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %v: %w", filepath.Base(name), timeout, err)
	}
	return stdout.Bytes(), err
}

// ShowLogOnFailure shows the end of a log file when the test fails.
func ShowLogOnFailure(t testing.TB, name, path string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s (%s) ---\n%s", name, path, Tail(path, 6000))
		}
	})
}

// Tail returns the last n bytes of a file, or why it cannot.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	if off > 0 {
		return "[...]\n" + string(b)
	}
	return string(b)
}

// Crash returns the start of a Go crash report (a panic or a fatal error,
// with the stack of the goroutine that crashed) in a log, after
// "; it crashed:", or "" when the log has none.
func Crash(log string) string {
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

// CheckRaces fails the test, when it ends, if the race detector reported
// a data race of a program built with -race in its log; the message
// quotes the first report.
func CheckRaces(t testing.TB, name, log string) {
	t.Cleanup(func() {
		b, err := os.ReadFile(log)
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); err == nil && i >= 0 {
			first := b[i:]
			if end := bytes.Index(first, []byte("\n==================")); end > 0 {
				first = first[:end]
			}
			t.Errorf("%s reported a data race in %s; the first one:\n%s", name, log, first[:min(len(first), 6000)])
		}
	})
}

// PeakRSS is the peak resident set of process pid since its exec, in
// bytes (VmHWM of /proc/pid/status). Not the rusage's Maxrss: Go starts
// children with clone(CLONE_VM), so a child's Maxrss also holds the test
// process's RSS at the fork.
func PeakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM: %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no VmHWM", pid)
	return 0
}
