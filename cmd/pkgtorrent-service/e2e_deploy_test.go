package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/trackers"
)

const e2eDeploy = "../../deploy/"

// e2eTestSystemdSocket starts the binary as systemd does for
// deploy/pkgtorrent-service.socket: with the listening unix socket as
// fd 3, LISTEN_FDS=1 and LISTEN_PID set to its own pid, and no flag but
// -config; then nginx sends it requests.
func e2eTestSystemdSocket(t *testing.T) {
	bin := serviceBinary(t)
	mirror := e2eMirror(t)
	dir := filepath.Join(t.TempDir(), "systemd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e2e.Share(t, dir)
	settings := e2e.ServiceSettings(t, dir, nil)

	sock := filepath.Join(dir, "pkgtorrent-service.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(sock, 0o666); err != nil { // SocketMode=0666
		t.Fatal(err)
	}
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// sh's $$ is the pid that exec keeps: the service's.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=pkgtorrent-service.socket exec "$0" "$@"`,
		bin, "-config", settings)
	cmd.ExtraFiles = []*os.File{f} // fd 3
	log := filepath.Join(dir, "service.log")
	svc := e2e.Start(t, "pkgtorrent-service (socket activated)", cmd, log)
	f.Close()
	e2e.CheckRaces(t, "the service", log)
	e2e.Wait(t, "the service takes the socket", 20*time.Second, func() error {
		b, _ := os.ReadFile(log)
		if !bytes.Contains(b, []byte("serving FastCGI on the socket systemd passed")) {
			return fmt.Errorf("not in its log yet")
		}
		return nil
	}, svc)

	s := e2eNginx(t, e2eServerOpts{mirror: mirror, socket: sock})
	tt := s.yumFlow(t, e2eSampleRPMs())
	if !slices.Equal(tt.urlList, []string{s.base + "/"}) {
		t.Errorf("url-list %q, want [%q]", tt.urlList, s.base+"/")
	}
	single := s.single(t, s.base, "yum/iso/boot.iso")
	if !slices.Equal(single.urlList, []string{s.base + "/yum/iso/"}) {
		t.Errorf("url-list %q, want [%q]", single.urlList, s.base+"/yum/iso/")
	}
	if svc.Exited() {
		t.Errorf("the service exited: %v", svc.Err())
	}

	// A socket meant for another process is refused.
	out := filepath.Join(t.TempDir(), "wrong-pid.log")
	_, err = e2e.Run(t, 20*time.Second, out, "/bin/sh", "-c", `LISTEN_PID=1 LISTEN_FDS=1 exec "$0" "$@"`, bin, "-config", settings)
	b, _ := os.ReadFile(out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !bytes.Contains(b, []byte("LISTEN_PID")) {
		t.Errorf("with LISTEN_PID of another process: %v, output %q; want a failure that names LISTEN_PID", err, b)
	}
}

// e2eTestDeployFiles checks what an operator installs, as far as this
// machine allows: the files agree with each other and with the binary's
// settings; the systemd units pass systemd-analyze verify; sysusers and
// tmpfiles create the user and the folders with the right owner (in a
// scratch root); the RPM spec installs every file and parses.
func e2eTestDeployFiles(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	serviceUnit, socketUnit := e2eDeploy+"pkgtorrent-service.service", e2eDeploy+"pkgtorrent-service.socket"
	tmpfiles := read(e2eDeploy + "pkgtorrent-service.tmpfiles")
	sysusers := read(e2eDeploy + "pkgtorrent-service.sysusers")
	spec := read(e2eDeploy + "pkgtorrent-service.spec")
	apache := read(e2eApacheConf)
	nginx := read(e2eNginxConf)
	nginxHTTP := read(e2eNginxHTTPConf)

	t.Run("Consistent", func(t *testing.T) {
		cfg, err := config.Load([]string{"-config", e2eDeploy + "pkgtorrent-service.conf"}, io.Discard)
		if err != nil {
			t.Fatalf("deploy/pkgtorrent-service.conf: %v", err)
		}
		if cfg.Root != "" {
			t.Errorf("the example settings set root = %s: leave it to the request's DOCUMENT_ROOT", cfg.Root)
		}
		for _, c := range []struct{ what, text, want string }{
			{"the unit's ExecStart", e2e.UnitValue(t, serviceUnit, "ExecStart"), "/usr/bin/pkgtorrent-service -config /etc/pkgtorrent-service.conf"},
			{"the unit's User", e2e.UnitValue(t, serviceUnit, "User"), "pkgtorrent"},
			{"the unit's CacheDirectory", "/var/cache/" + e2e.UnitValue(t, serviceUnit, "CacheDirectory"), cfg.Cache},
			{"the socket's ListenStream", "unix:" + e2e.UnitValue(t, socketUnit, "ListenStream"), "unix:/run/pkgtorrent-service.sock"},
		} {
			if c.text != c.want {
				t.Errorf("%s is %q, want %q", c.what, c.text, c.want)
			}
		}
		for _, c := range []struct{ file, text, want string }{
			{"the nginx snippet", nginx, "fastcgi_pass pkgtorrent_service;"},
			{"the nginx snippet", nginx, "fastcgi_keep_conn on;"},
			{"the nginx http part", nginxHTTP, "upstream pkgtorrent_service {"},
			{"the nginx http part", nginxHTTP, "server unix:/run/pkgtorrent-service.sock;"},
			{"the Apache configuration", apache, `FcgidWrapper "/usr/bin/pkgtorrent-service -config /etc/pkgtorrent-service.conf" virtual`},
			{"the tmpfiles entry", tmpfiles, "d     " + cfg.Cache + " "},
			{"the tmpfiles entry", tmpfiles, "d     " + filepath.Dir(cfg.Trackers) + " "},
			{"the sysusers entry", sysusers, "u     pkgtorrent "},
		} {
			if !strings.Contains(c.text, c.want) {
				t.Errorf("%s does not contain %q", c.file, c.want)
			}
		}
		for _, text := range []string{apache, nginx} {
			if !strings.Contains(text, "/"+e2eService+"(/|$)") || cfg.ServiceName != e2eService {
				t.Errorf("service-name %q and the web server configurations disagree", cfg.ServiceName)
			}
		}
		var skipped []string
		urls := trackers.Parse([]byte(read(e2eDeploy+"trackers.example")), func(n int, line, why string) {
			skipped = append(skipped, fmt.Sprintf("line %d %q: %s", n, line, why))
		})
		if len(urls) != 0 || len(skipped) != 0 {
			t.Errorf("deploy/trackers.example: want only comments, got trackers %q, skipped %q", urls, skipped)
		}
		// The spec installs all of it.
		for _, d := range []string{e2eDeploy, "../../httpd-conf/"} {
			entries, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				name := filepath.Base(filepath.Clean(d)) + "/" + e.Name()
				if e.Name() != "pkgtorrent-service.spec" && !strings.Contains(spec, name) {
					t.Errorf("deploy/pkgtorrent-service.spec does not install %s", name)
				}
			}
		}
	})

	t.Run("SystemdAnalyzeVerify", func(t *testing.T) {
		verifyUnits(t, e2eDeploy+"pkgtorrent-service.socket", e2eDeploy+"pkgtorrent-service.service",
			e2eDeploy+"pkgtorrent-tracker.service", e2eDeploy+"pkgtorrent-tracker-reload.path", e2eDeploy+"pkgtorrent-tracker-reload.service")
	})

	t.Run("SysusersTmpfiles", func(t *testing.T) {
		sysusersBin := e2e.Need(t, "systemd-sysusers")
		tmpfilesBin := e2e.Need(t, "systemd-tmpfiles")
		if os.Geteuid() != 0 {
			t.Skip("creating folders owned by another user needs root")
		}
		root := t.TempDir()
		if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		deploy, err := filepath.Abs(e2eDeploy)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range [][]string{
			{sysusersBin, "--root=" + root, filepath.Join(deploy, "pkgtorrent-service.sysusers")},
			{tmpfilesBin, "--create", "--root=" + root, filepath.Join(deploy, "pkgtorrent-service.tmpfiles")},
		} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
			}
		}
		uid := e2ePasswdUID(t, filepath.Join(root, "etc/passwd"), "pkgtorrent")
		for _, c := range []struct {
			dir string
			uid int
		}{
			{"var/cache/torrent_service", uid},
			{"var/cache/torrent_service/pieces", uid},
			{"var/cache/torrent_service/info", uid},
			{"var/lib/torrent_service", 0},
		} {
			fi, err := os.Stat(filepath.Join(root, c.dir))
			if err != nil {
				t.Errorf("tmpfiles did not create /%s: %v", c.dir, err)
				continue
			}
			if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != c.uid || !fi.IsDir() {
				t.Errorf("/%s: owner %d, want %d", c.dir, got, c.uid)
			}
		}
	})

	t.Run("RPMSpec", func(t *testing.T) {
		out, err := exec.Command(e2e.Need(t, "rpmspec"), "-P", e2eDeploy+"pkgtorrent-service.spec").CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("error:")) {
			t.Errorf("rpmspec -P: %v\n%s", err, out)
		}
	})
}

// e2ePasswdUID returns the uid of name in a passwd file.
func e2ePasswdUID(t *testing.T, passwd, name string) int {
	t.Helper()
	f, err := os.Open(passwd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 2 && fields[0] == name {
			uid, err := strconv.Atoi(fields[2])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("%s has no user %s", passwd, name)
	return 0
}
