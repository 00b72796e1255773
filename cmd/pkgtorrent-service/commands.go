package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/gc"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/inspect"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/progress"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/version"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/warm"
)

// Exit statuses of the subcommands.
const (
	exitOK          = 0
	exitFailed      = 1   // the work failed, in part or whole
	exitUsage       = 2   // bad flags, settings or arguments
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

// runSubcommand runs the subcommand name. This file only wires flags and
// output; what each does is in the package named after it.
func runSubcommand(name string, args []string, stdout *os.File, stderr io.Writer) int {
	switch name {
	case "warm":
		return runWarm(args, stdout, stderr)
	case "gc":
		return runGC(args, stdout, stderr)
	case "inspect":
		return runInspect(args, stdout, stderr)
	case "version":
		return runVersion(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "pkgtorrent-service: unknown subcommand %q (want warm, gc, inspect or version; -h for help)\n", name)
	return exitUsage
}

// loadSettings parses a subcommand's flags and the settings. done is true
// when the command must stop with code: after -h, or on an error, which it
// prints as one line.
func loadSettings(cmd settings.Command, args []string, stderr io.Writer) (cfg config.Config, rest []string, code int, done bool) {
	cfg, rest, err := config.LoadCommand(cmd, args, stderr)
	if errors.Is(err, config.ErrHelp) {
		return cfg, nil, exitOK, true
	}
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return cfg, nil, exitUsage, true
	}
	return cfg, rest, 0, false
}

// parseFlags is loadSettings for a subcommand that takes no settings.
func parseFlags(fs *flag.FlagSet, usage, doc string, args []string, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		settings.PrintUsage(stderr, settings.Command{Usage: usage, Doc: doc}, fs)
		return exitOK, true
	}
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return exitUsage, true
	}
	return 0, false
}

// interruptible returns a context that ends on SIGINT or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func runWarm(args []string, stdout *os.File, stderr io.Writer) int {
	var workers int
	cmd := settings.Command{
		Usage: "pkgtorrent-service warm [-j N] [settings] PATTERN...",
		Doc: `Hashes ahead of time every file that the patterns match under -root, so that the
first client to ask for a torrent of them does not wait: run it after each repository
sync. A pattern is a path relative to the document root; * ? [...] match within a
folder name and ** any number of folders, as in 'yum/**/*.rpm'. Files whose piece
cache entry is still valid are skipped; -j files are hashed at once, each on its share
of the cores. On a terminal it shows a live progress line;
otherwise one summary line. SIGINT or SIGTERM stops it, keeping every entry written
(exit status 130).`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&workers, "j", 0, "files hashed at once (default: 32 per core when the hashing path is a lane path and format is not hybrid, else one per core)")
		},
		Args: true,
	}
	cfg, patterns, code, done := loadSettings(cmd, args, stderr)
	if done {
		return code
	}
	if cfg.Root == "" {
		fmt.Fprintln(stderr, "pkgtorrent-service: root: warm needs the document root (-root, or root = in -config)")
		return exitUsage
	}
	if len(patterns) == 0 {
		fmt.Fprintln(stderr, "pkgtorrent-service: warm needs at least one PATTERN, such as 'yum/**/*.rpm'")
		return exitUsage
	}
	if err := setHashPath(cfg); err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	if uid, foreign := warm.ForeignOwner(cfg.Cache); foreign {
		log.Warn("warm: running as root, but the cache belongs to another user: the service cannot replace or mark the entries root writes; run warm as that user (runuser -u USER -- pkgtorrent-service warm ...)", "cache", cfg.Cache, "owner_uid", uid)
	}
	root, err := docroot.Open(cfg.Root)
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return exitFailed
	}
	defer root.Close()
	ctx, stop := interruptible()
	defer stop()
	p := new(warm.Progress)
	var meter *progress.Meter
	if progress.IsTerminal(stdout) {
		meter = progress.Start(stdout, progress.Width(stdout), func(width int) string { return p.Snapshot().Line(width) })
	}
	s, err := warm.Run(ctx, warm.Options{
		Root:        root,
		Pieces:      piececache.Store{Dir: cfg.PiecesDir()},
		PieceLength: cfg.PieceLength,
		V2:          cfg.Format == torrent.Hybrid,
		Workers:     workers,
		Log:         log,
	}, patterns, p)
	if meter != nil {
		meter.Stop()
	}
	interrupted := ctx.Err() != nil
	fmt.Fprintln(stdout, s.Summary(interrupted))
	switch {
	case interrupted:
		return exitInterrupted
	case err != nil:
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return exitFailed
	}
	return exitOK
}

func runGC(args []string, stdout *os.File, stderr io.Writer) int {
	var maxAge time.Duration
	var dryRun, verbose bool
	cmd := settings.Command{
		Usage: "pkgtorrent-service gc [-max-age D] [-dry-run] [-v] [settings]",
		Doc: `Removes from the cache folder the entries not used for -max-age, the piece entries
of files gone from -root, the info entries any of whose files is gone, corrupt info
entries, temporary files older than an hour, and the folders this leaves empty; with
tracker-whitelist set, it takes the info hashes of removed entries off that list. A use
is recorded when the service serves a torrent, at most once a day per entry (as the
entry file's access time). Prints one summary line with what it removed and the space
freed; -v also each removal. Without -root, piece entries are judged by age only.
Run it daily (deploy/ has a systemd timer and a cron example).`,
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&maxAge, "max-age", 720*time.Hour, "remove entries not used for this long (0 removes every entry)")
			fs.BoolVar(&dryRun, "dry-run", false, "print what would be removed, remove nothing")
			fs.BoolVar(&verbose, "v", false, "print each removal")
		},
	}
	cfg, _, code, done := loadSettings(cmd, args, stderr)
	if done {
		return code
	}
	if maxAge < 0 {
		fmt.Fprintf(stderr, "pkgtorrent-service: max-age: %v is negative\n", maxAge)
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	if cfg.Root == "" {
		log.Info("gc: no root setting: piece entries of files gone from the mirror are removed once unused for max-age (they are never used)")
	}
	ctx, stop := interruptible()
	defer stop()
	opt := gc.Options{
		Pieces:    cfg.PiecesDir(),
		Info:      cfg.InfoDir(),
		Root:      cfg.Root,
		MaxAge:    maxAge,
		Whitelist: cfg.TrackerWhitelist,
		DryRun:    dryRun,
		Log:       log,
	}
	if verbose || dryRun {
		opt.Report = func(r gc.Removal) { fmt.Fprintln(stdout, r.Line(dryRun, cfg.Cache)) }
	}
	res, err := gc.Run(ctx, opt)
	fmt.Fprintln(stdout, res.Summary(dryRun))
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case err != nil:
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return exitFailed
	}
	return exitOK
}

func runInspect(args []string, stdout *os.File, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	verifyRoot := fs.String("verify", "", "check every piece against the files under this folder (where a client would download the torrent: the document root for the service's multi-file torrents)")
	const usage = "pkgtorrent-service inspect [-verify ROOT] FILE.torrent|URL"
	doc := fmt.Sprintf(`Prints what a .torrent file holds: name, info hash, piece length, files (padding
entries marked), trackers and web seeds. It reads a file, or an http:// or https://
URL (at most %d MiB). With -verify ROOT it recomputes every piece from ROOT/name/path
(padding entries as zeros) and says which pieces and files fail; the exit status is
1 when any does.`, inspect.MaxSize>>20)
	if code, done := parseFlags(fs, usage, doc, args, stderr); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "pkgtorrent-service: inspect needs one FILE.torrent or URL; usage: "+usage)
		return exitUsage
	}
	ctx, stop := interruptible()
	defer stop()
	b, err := inspect.Read(ctx, fs.Arg(0), &http.Client{Timeout: time.Minute}, 0)
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		return exitFailed
	}
	t, err := inspect.Parse(b)
	if err != nil {
		fmt.Fprintf(stderr, "pkgtorrent-service: %s: %v\n", fs.Arg(0), err)
		return exitFailed
	}
	inspect.Print(stdout, t)
	if *verifyRoot == "" {
		return exitOK
	}
	v, err := inspect.Verify(ctx, t, *verifyRoot)
	if err != nil && !errors.Is(err, inspect.ErrBadPieces) {
		fmt.Fprintln(stderr, "pkgtorrent-service:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	v.Print(stdout, t)
	if err != nil {
		return exitFailed
	}
	return exitOK
}

func runVersion(args []string, stdout *os.File, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "also name the CPU and the hashing path chosen on it, with the rates measured")
	if code, done := parseFlags(fs, "pkgtorrent-service version [-v]", "Prints the version of this build: module version, VCS revision and time, Go version.", args, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pkgtorrent-service: version takes no arguments, got %q\n", fs.Arg(0))
		return exitUsage
	}
	fmt.Fprintln(stdout, version.String("pkgtorrent-service"))
	if *verbose {
		fmt.Fprintln(stdout, "cpu:", version.CPU())
		fmt.Fprintln(stdout, "hashing:", pieces.Chosen())
	}
	return exitOK
}
