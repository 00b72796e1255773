package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/repos"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// defaultConfig is the agent's settings file as its systemd unit names it;
// repos reads its listen and repos-dir when it exists.
const defaultConfig = "/etc/pkgtorrent-agent.conf"

const reposUsage = `Usage: pkgtorrent-agent repos [-w] [-d DIR] [-listen ADDR] [-config FILE] [-dnf-conf FILE]

Puts the agent first in the baseurl of every repo in DIR/*.repo: for each
http or https mirror, the agent's URLs of it, then the mirrors as they were.
librepo sends at most 3 downloads at once to one URL, so a mirror gets
ceil(max_parallel_downloads/3) agent URLs (its lanes: /m/, /m2/, ...), with
max_parallel_downloads from dnf.conf's [main]; run it again after changing
that setting.
Everything else in the files stays as it is, and a second run changes
nothing. Without -w it prints a unified diff (the files' names as given,
so "patch -d / -p1" applies it for /etc/yum.repos.d), with -w it writes
the files. Repos with metalink= or mirrorlist= and no baseurl are left
alone, with one line on what to do. Repos with username or password
stay on their own mirror (agent URLs come out), with one line on why.
Repos with sslclientcert or sslclientkey go through the agent, which
presents the repo's certificate to the mirror, with one line saying the
agent must read it. subscription-manager's redhat.repo is left as it is,
with a repo-override command for each repo to change. Repos that
dnf reaches through a proxy (proxy= in the repo or in the dnf-conf
setting's dnf.conf) get one line on no_proxy, without which dnf sends the
agent's URLs to the proxy too. Exit status:
0, or 1 when a file could not be read, parsed or written, 2 for a wrong
command line.

`

// runRepos is "pkgtorrent-agent repos ARGS": the diff or the "wrote" lines
// go to stdout, everything else to stderr.
func runRepos(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pkgtorrent-agent repos", flag.ContinueOnError)
	fl.SetOutput(stderr)
	write := fl.Bool("w", false, "write the files (default: print a diff)")
	dir := fl.String("d", "", "folder of the .repo files (default: the agent's repos-dir, /etc/yum.repos.d)")
	listen := fl.String("listen", "", "the agent's listen address (default: the agent's listen setting, 127.0.0.1:7881)")
	config := fl.String("config", defaultConfig, "the agent's settings file, for listen, repos-dir and dnf-conf (when it exists; \"\": none)")
	dnfConf := fl.String("dnf-conf", "", "dnf's settings file, for max_parallel_downloads, ip_resolve and proxy (default: the agent's dnf-conf setting, /etc/dnf/dnf.conf; dnf's defaults when it is missing)")
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), reposUsage)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "pkgtorrent-agent repos: unexpected argument %q\n", fl.Arg(0))
		return exitUsage
	}
	cfg := settings.Default()
	configGiven := false
	fl.Visit(func(f *flag.Flag) { configGiven = configGiven || f.Name == "config" })
	if _, err := os.Stat(*config); *config != "" && (err == nil || configGiven) {
		c, _, err := settings.Load("", []string{"-config", *config}, io.Discard)
		if err != nil {
			fmt.Fprintln(stderr, "pkgtorrent-agent repos:", err)
			return exitUsage
		}
		cfg = c
	}
	if *dir == "" {
		*dir = orDefault(cfg.ReposDir, "/etc/yum.repos.d")
	}
	if *listen == "" {
		*listen = cfg.Listen
	}
	base, err := repos.AgentBase(*listen)
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-agent repos:", err)
		return exitUsage
	}

	status := exitOK
	fail := func(err error) {
		fmt.Fprintln(stderr, "pkgtorrent-agent repos:", err)
		status = exitFailed
	}
	if *dnfConf == "" {
		*dnfConf = cfg.DNFConf
	}
	dnf, err := repos.ReadDnfConf(*dnfConf)
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-agent repos:", err)
		return exitUsage
	}
	if v6 := strings.HasPrefix(base, "http://["); (dnf.IPResolve == "6" && !v6) || (dnf.IPResolve == "4" && v6) {
		fmt.Fprintf(stderr, "%s sets ip_resolve=%s: dnf cannot reach the agent at %s; set the agent's listen (and its socket unit's ListenStream) to %s and run repos again\n",
			*dnfConf, dnf.IPResolve, base, map[string]string{"6": "[::1]:7881", "4": "127.0.0.1:7881"}[dnf.IPResolve])
	}
	files, err := repos.RewriteDir(*dir, base, repos.Lanes(dnf.MaxParallelDownloads))
	if err != nil {
		fail(err)
		return status
	}
	changed := 0
	for _, f := range files {
		if f.Err != nil {
			fail(f.Err)
			continue
		}
		r := f.Result
		if r.Note != "" {
			fmt.Fprintf(stderr, "%s: %s\n", f.Name, r.Note)
		}
		for _, rp := range r.Repos {
			for _, n := range rp.Notes {
				fmt.Fprintf(stderr, "%s: %s\n", f.Name, n)
			}
			if rp.Hint != "" {
				fmt.Fprintf(stderr, "%s: %s\n", f.Name, rp.Hint)
			}
		}
		if !r.Changed() {
			continue
		}
		changed++
		if !*write {
			stdout.Write(r.Diff(f.Name))
			continue
		}
		if err := repos.WriteFile(f.Name, r.Text); err != nil {
			fail(err)
			continue
		}
		fmt.Fprintf(stdout, "wrote %s\n", f.Name)
	}

	switch {
	case len(files) == 0:
		fmt.Fprintf(stderr, "no .repo files in %s\n", *dir)
	case changed == 0:
		fmt.Fprintf(stderr, "%d .repo files in %s: nothing to change\n", len(files), *dir)
	case !*write:
		fmt.Fprintf(stderr, "%d of %d .repo files in %s would change: run with -w to write them\n", changed, len(files), *dir)
	}
	if n := proxyNote(files, *dnfConf, base); n != "" {
		fmt.Fprintln(stderr, n)
	}
	mirrors := repos.AllowedMirrors(files)
	if len(mirrors) > 0 {
		if cfg.ReposDir != "" && filepath.Clean(cfg.ReposDir) == filepath.Clean(*dir) {
			fmt.Fprintf(stderr, "the agent allows these mirrors, as it reads the baseurl lines of %s: %s\n", *dir, strings.Join(mirrors, " "))
		} else {
			fmt.Fprintf(stderr, "the agent's repos-dir is %q, not %s: allow these mirrors with allow lines in its settings file: %s\n",
				cfg.ReposDir, *dir, strings.Join(mirrors, " "))
		}
	}
	return status
}

// proxyNote is the line on the repos of files with agent URLs that dnf
// reaches through a proxy (their proxy=, or that of dnfConf's [main]),
// or "" when there are none: librepo sends every URL of such a repo
// through the proxy, the agent's too, unless no_proxy names the agent's
// host (base).
func proxyNote(files []repos.File, dnfConf, base string) string {
	var main map[string]string
	where := "the repo files"
	if dnfConf != "" {
		if src, err := os.ReadFile(dnfConf); err == nil {
			if main, err = repos.MainProxy(src); err == nil {
				where = dnfConf + " or the repo files"
			}
		}
	}
	var ids []string
	for _, f := range files {
		if f.Err != nil {
			continue
		}
		for _, rp := range f.Result.Repos {
			if len(rp.Mirrors) == 0 {
				continue
			}
			if p, err := repos.DNFProxy(main, rp.Proxy); p != nil || err != nil {
				ids = append(ids, rp.ID)
			}
		}
	}
	if len(ids) == 0 {
		return ""
	}
	host := strings.TrimPrefix(base, "http://")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return fmt.Sprintf("dnf reaches these repos through a proxy (proxy= in %s), and librepo sends their agent URLs to it too, "+
		"which cannot reach this host's %s: install the pkgtorrent dnf plugin (dnf 4; it sets no_proxy), or set no_proxy=%s "+
		"in the environment of dnf 5, microdnf and PackageKit (PROXIES in pkgtorrent-agent(8)): %s",
		where, host, host, strings.Join(ids, " "))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
