package main

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a program the benchmark started; stop ends it.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func start(name, logFile string, cmd *exec.Cmd) (*proc, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits.
func (p *proc) stop() {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitIdle waits until the process has used no CPU for 50 ms (its work
// after an answer is done), 10 s at most.
func (p *proc) waitIdle() error {
	cpu := func() (int64, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			return 0, err
		}
		// The fields after the command's name, which is in parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: %q", p.cmd.Process.Pid, b)
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		return utime + stime, cmp.Or(err1, err2)
	}
	last, err := cpu()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		now, err := cpu()
		if err != nil {
			return err
		}
		if now == last {
			return nil
		}
		last = now
	}
	return err
}

// peakRSS is the process's peak resident set in bytes (VmHWM), read while
// it runs.
func (p *proc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

// freePort returns a loopback TCP port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls ok until it holds or 20 s pass.
func waitFor(what string, p *proc, ok func() bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s", p.name, what)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// service is pkgtorrent-service under FastCGI on a unix socket.
type service struct {
	bin, dir, mirror, sock string
	hashPath               string // its hash-path setting
	p                      *proc
	old                    int // caches set aside
	// deleteOld makes start delete the old cache (just before the
	// process starts) rather than set it aside.
	deleteOld bool
}

// start (re)starts the service with an empty cache when fresh is set.
//
// The old cache is moved aside, not deleted: on ext4 without a journal
// (this machine's root file system), an inode freed less than 1 to 5
// minutes ago is skipped when a new one is allocated, each skip reading
// the inode table, so deleting thousands of cache files just before a
// timed run made the run's own file creations cost up to a second more
// (perf: recently_deleted under ext4_create and ext4_mkdir). That is the
// benchmark's churn, not the cost of a cold cache. removeOldCaches
// deletes them once nothing is timed any more.
func (s *service) start(fresh bool) error {
	s.p.stop()
	cache := filepath.Join(s.dir, "cache")
	if fresh && s.deleteOld {
		if err := os.RemoveAll(cache); err != nil {
			return err
		}
	} else if fresh {
		if _, err := os.Stat(cache); err == nil {
			s.old++
			if err := os.Rename(cache, filepath.Join(s.dir, fmt.Sprintf("old-cache-%d-%d", os.Getpid(), s.old))); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	os.Remove(s.sock)
	p, err := start("pkgtorrent-service", filepath.Join(s.dir, "service.log"), exec.Command(s.bin,
		"-fcgi", "unix:"+s.sock, "-cache", cache, "-trackers", filepath.Join(s.dir, "trackers"), "-log-level", "warn", "-hash-path", cmp.Or(s.hashPath, "auto")))
	if err != nil {
		return err
	}
	s.p = p
	return waitFor("the service's socket", p, func() bool {
		c, err := net.Dial("unix", s.sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// removeOldCaches deletes the caches start set aside, in this run or in
// an interrupted one.
func (s *service) removeOldCaches() error {
	old, err := filepath.Glob(filepath.Join(s.dir, "old-cache-*"))
	if err != nil {
		return err
	}
	for _, dir := range old {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// nginxConf is where nginx's configuration comes from: the operator's
// snippet and its http {} part from httpd-conf.
type nginxConf struct {
	dir, mirror       string
	snippet, httpPart string
	sock              string // the service's
}

// cacheDirective is a line of the snippet that turns on or sets up
// nginx's fastcgi_cache.
var cacheDirective = regexp.MustCompile(`(?m)^\s*fastcgi_(cache|cache_[a-z_]+|no_cache)\s.*\n`)

// startNginx serves the mirror on a loopback port with the operator's
// snippet and its http {} part, the upstream's socket replaced by the
// benchmark's and the cache's folder by one under c.dir (emptied). With
// cache false, the snippet's fastcgi_cache lines are left out.
func startNginx(c nginxConf, cache bool) (*proc, string, error) {
	dir, mirror := c.dir, c.mirror
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		return nil, "", fmt.Errorf("nginx: %w (make bench-deps installs it)", err)
	}
	snippet, err := os.ReadFile(c.snippet)
	if err != nil {
		return nil, "", err
	}
	snippetText := string(snippet)
	if !cache {
		snippetText = cacheDirective.ReplaceAllString(snippetText, "")
		if snippetText == string(snippet) {
			return nil, "", fmt.Errorf("%s: no fastcgi_cache lines to leave out", c.snippet)
		}
	}
	httpPart, err := os.ReadFile(c.httpPart)
	if err != nil {
		return nil, "", err
	}
	cacheDir := filepath.Join(dir, "fastcgi-cache")
	if err := os.RemoveAll(cacheDir); err != nil {
		return nil, "", err
	}
	text := string(httpPart)
	for _, r := range []struct{ old, new string }{
		{"unix:/run/pkgtorrent-service.sock", "unix:" + c.sock},
		{"/var/lib/nginx/pkgtorrent-service ", cacheDir + " "},
	} {
		if !strings.Contains(text, r.old) {
			return nil, "", fmt.Errorf("%s: no %s to replace", c.httpPart, r.old)
		}
		text = strings.ReplaceAll(text, r.old, r.new)
	}
	params, err := os.ReadFile("/etc/nginx/fastcgi_params")
	if err != nil {
		return nil, "", fmt.Errorf("nginx: %w", err)
	}
	for name, b := range map[string]string{"pkgtorrent-service.conf": snippetText, "pkgtorrent-service-http.conf": text, "fastcgi_params": string(params)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			return nil, "", err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	user := ""
	if os.Getuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
%[1]s
pid %[2]s/nginx.pid;
error_log %[2]s/error.log notice;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path %[2]s/tmp-body;
    fastcgi_temp_path %[2]s/tmp-fastcgi;
    proxy_temp_path %[2]s/tmp-proxy;
    uwsgi_temp_path %[2]s/tmp-uwsgi;
    scgi_temp_path %[2]s/tmp-scgi;
    include pkgtorrent-service-http.conf;
    server {
        listen 127.0.0.1:%[3]d;
        server_name localhost;
        root %[4]s;
        include pkgtorrent-service.conf;
    }
}
`, user, dir, port, mirror)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, err := start("nginx", filepath.Join(dir, "nginx.out"), exec.Command(nginx, "-p", dir+"/", "-c", confFile, "-e", filepath.Join(dir, "error.log")))
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err = waitFor("nginx's port", p, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "http://" + addr, nil
}
