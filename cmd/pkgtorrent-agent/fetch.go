package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
)

const fetchUsage = `Usage: pkgtorrent-agent fetch [-agent URL] [-o DIR] [-torrent] URL...

Downloads each URL through the running agent, as dnf does, into DIR under
its base name. DIR is created when missing, and the files get the modes of
curl's and wget's (0666 less the umask). Packages come through their torrents, other files from the
mirror; -torrent takes any file through its torrent (ISO images). Exit
status 0 when every file arrived whole, 1 when one did not, 2 on bad
usage.

Flags:
`

// runFetch is the fetch subcommand. It takes each file through the
// agent, so that a package comes through its per-file single/ torrent,
// one swarm for every host that wants it; it never asks the service for
// one torrent of the whole set (yum-torrent's digest protocol), whose
// swarm would hold only the hosts that want exactly that set
// (BenchmarkFetchLayout compares the two).
func runFetch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	agentURL := fs.String("agent", "http://127.0.0.1:7881", "the agent's URL (its listen setting)")
	dir := fs.String("o", ".", "folder to write the files into")
	torrent := fs.Bool("torrent", false, "take every file through its torrent, whatever its name")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, fetchUsage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintln(stderr, "pkgtorrent-agent fetch:", err)
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "pkgtorrent-agent fetch: no URL given")
		return exitUsage
	}
	var jobs []fetchJob
	for _, a := range fs.Args() {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || path.Base(u.Path) == "/" || path.Base(u.Path) == "." {
			fmt.Fprintf(stderr, "pkgtorrent-agent fetch: %q is not an http or https URL of a file\n", a)
			return exitUsage
		}
		jobs = append(jobs, fetchJob{
			src:  strings.TrimRight(*agentURL, "/") + "/m/" + u.Scheme + "/" + u.Host + u.EscapedPath(),
			dest: filepath.Join(*dir, path.Base(u.Path)),
		})
	}
	if err := os.MkdirAll(*dir, 0o777); err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-agent fetch:", err)
		return exitFailed
	}
	// The files' mode, as curl and wget give theirs: 0666 less the umask
	// (a temporary file is created 0600).
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	mode := os.FileMode(0o666 &^ umask)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: time.Minute}}
	var mu sync.Mutex
	failed := 0
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := j.run(client, *torrent, mode)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "pkgtorrent-agent fetch: %s: %v\n", j.dest, err)
				return
			}
			fmt.Fprintf(stdout, "%s %d\n", j.dest, n)
		}()
	}
	wg.Wait()
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}

type fetchJob struct{ src, dest string }

// run downloads the job into a temporary file beside dest and renames
// it, with the given mode, when every byte the answer announced arrived.
func (j fetchJob) run(client *http.Client, torrent bool, mode os.FileMode) (int64, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, j.src, nil)
	if err != nil {
		return 0, err
	}
	if torrent {
		req.Header.Set(agent.TorrentHeader, "1")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	f, err := os.CreateTemp(filepath.Dir(j.dest), ".fetch-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("%d of %d bytes", n, resp.ContentLength)
	}
	if err == nil {
		err = os.Rename(f.Name(), j.dest)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}
