package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadCommandOwnFlagsAndArgs(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "service.conf")
	if err := os.WriteFile(conf, []byte("cache = /from/file\npiece-length = 256KiB\nroot = "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var maxAge time.Duration
	var dryRun bool
	cmd := Command{
		Usage: "pkgtorrent-service gc [flags]",
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&maxAge, "max-age", 720*time.Hour, "remove entries unused for this long")
			fs.BoolVar(&dryRun, "dry-run", false, "only print")
		},
		Args: true,
	}
	c, args, err := LoadCommand(cmd, []string{"-config", conf, "-max-age", "48h", "-dry-run", "-cache", "/from/flag", "a", "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if maxAge != 48*time.Hour || !dryRun {
		t.Errorf("own flags: max-age %v, dry-run %v; want 48h and true", maxAge, dryRun)
	}
	if c.Cache != "/from/flag" || c.PieceLength != 256<<10 || c.Root != dir {
		t.Errorf("settings: cache %q, piece length %d, root %q; want the flag's cache, the file's piece length and root", c.Cache, c.PieceLength, c.Root)
	}
	if strings.Join(args, " ") != "a b" {
		t.Errorf("args %q, want [a b]", args)
	}
	if c.PiecesDir() != "/from/flag/pieces" || c.InfoDir() != "/from/flag/info" {
		t.Errorf("cache folders %q and %q", c.PiecesDir(), c.InfoDir())
	}
}

func TestLoadCommandErrors(t *testing.T) {
	noArgs := Command{Usage: "x"}
	for _, tc := range []struct {
		name string
		cmd  Command
		args []string
		want string
	}{
		{"argument to the service", noArgs, []string{"warm"}, `unexpected argument "warm"`},
		{"unknown flag", noArgs, []string{"-max-age", "1h"}, "max-age"},
		{"invalid setting", Command{Usage: "x", Args: true}, []string{"-piece-length", "1000", "p"}, "piece-length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadCommand(tc.cmd, tc.args, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestLoadCommandHelp(t *testing.T) {
	var out bytes.Buffer
	cmd := Command{
		Usage: "pkgtorrent-service warm [settings] PATTERN...",
		Doc:   "Hashes ahead of time.",
		Flags: func(fs *flag.FlagSet) { fs.Int("j", 4, "files hashed at once") },
		Args:  true,
	}
	_, _, err := LoadCommand(cmd, []string{"-h"}, &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("-h: %v, want ErrHelp", err)
	}
	text := out.String()
	for _, want := range []string{"Usage: pkgtorrent-service warm [settings] PATTERN...\n", "Hashes ahead of time.", "Flags:\n  -j int\n", "(default 4)", "Settings (as for the service", "  -config string", "  -piece-length value", "(default 1048576)"} {
		if !strings.Contains(text, want) {
			t.Errorf("-h text lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "-j int") > strings.Index(text, "-cache") {
		t.Errorf("the command's own flags should come before the settings:\n%s", text)
	}
}

func TestLoadServiceUnchanged(t *testing.T) {
	var out bytes.Buffer
	if _, err := Load([]string{"-help"}, &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	if !strings.HasPrefix(out.String(), "Usage: pkgtorrent-service [-config FILE]") || strings.Contains(out.String(), "Flags:") {
		t.Errorf("service usage:\n%s", out.String())
	}
}

func TestNamesCoverEverySetting(t *testing.T) {
	names := Names()
	if names[0] != "config" || len(names) != len(settings)+1 {
		t.Fatalf("names %q", names)
	}
	for _, n := range names[1:] {
		if lookup(n) == nil {
			t.Errorf("%q is not a setting", n)
		}
	}
}
