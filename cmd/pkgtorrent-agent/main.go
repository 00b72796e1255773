package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/engine"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

const usage = "pkgtorrent-agent [-config FILE] [-setting value ...]"

// Exit statuses of the daemon and the subcommands.
const (
	exitOK     = 0
	exitFailed = 1 // the agent stopped on an error; a file not fetched or written
	exitUsage  = 2 // bad flags, settings or arguments
)

func main() {
	if err := engine.ExecWithFileIO(); err != nil {
		fmt.Fprintln(os.Stderr, "pkgtorrent-agent: running with pread/pwrite file I/O:", err)
		os.Exit(exitFailed)
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run runs the command line args: a subcommand, or the daemon until
// SIGINT or SIGTERM. It returns the exit status.
func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fetch" {
		return runFetch(args[1:], os.Stdout, stderr)
	}
	if len(args) > 0 && args[0] == "repos" {
		return runRepos(args[1:], os.Stdout, stderr)
	}
	if len(args) > 0 && args[0] == "dnf5-prefetch" {
		return runDNF5Prefetch(args[1:], os.Stdin, os.Stdout, stderr)
	}
	cfg, rest, err := settings.Load(usage, args, stderr)
	if errors.Is(err, settings.ErrHelp) {
		return exitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q", rest[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-agent:", err)
		return exitUsage
	}
	if cfg.CPUs > 0 {
		// Here, not in agent.Serve: the process's, not one agent's.
		runtime.GOMAXPROCS(cfg.CPUs)
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := agent.Serve(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		return exitFailed
	}
	return exitOK
}
