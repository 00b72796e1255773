package config

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/settings"
)

func TestLoadCommandValidates(t *testing.T) {
	_, _, err := LoadCommand(settings.Command{Usage: "x", Args: true}, []string{"-piece-length", "1000", "p"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "piece-length") {
		t.Errorf("error %v, want one naming piece-length", err)
	}
}

// TestLoadCommandHelp: a subcommand with flags of its own lists them,
// then the settings under a heading that says they are the service's.
func TestLoadCommandHelp(t *testing.T) {
	var out bytes.Buffer
	cmd := settings.Command{
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
	for _, want := range []string{"Usage: pkgtorrent-service warm [settings] PATTERN...\n", "Flags:\n  -j int\n", "\nSettings (as for the service; flags override -config):\n", "  -config string", "  -piece-length value", "(default 1048576)"} {
		if !strings.Contains(text, want) {
			t.Errorf("-h text lacks %q:\n%s", want, text)
		}
	}
}

func TestLoadServiceHelp(t *testing.T) {
	var out bytes.Buffer
	if _, err := Load([]string{"-help"}, &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	if !strings.HasPrefix(out.String(), "Usage: pkgtorrent-service [-config FILE]") || strings.Contains(out.String(), "Flags:") ||
		!strings.Contains(out.String(), "\nSettings (flags override -config):\n") {
		t.Errorf("service usage:\n%s", out.String())
	}
}

func TestNamesCoverEverySetting(t *testing.T) {
	var c Config
	names := Names()
	if !slices.Equal(names, c.table().Names()) || names[0] != "config" {
		t.Fatalf("names %q", names)
	}
	for _, n := range names[1:] {
		if _, ok := DefaultValue(n); !ok {
			t.Errorf("%q is not a setting", n)
		}
	}
}
