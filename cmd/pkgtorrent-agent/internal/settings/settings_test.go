package settings

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Listen != "127.0.0.1:7881" {
		t.Errorf("listen = %q: the agent listens on loopback by default", c.Listen)
	}
}

// TestFileThenFlags: the file overrides the defaults, flags override the
// file; the first flag of a repeatable setting replaces the file's list.
func TestFileThenFlags(t *testing.T) {
	f := filepath.Join(t.TempDir(), "agent.conf")
	text := "# comment\nstore = /srv/store\nallow = http://a.example.org/pub\nallow = https://b.example.org\nstall = 7s\npackages = *.drpm\n"
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, rest, err := Load("u", []string{"-config", f, "-stall", "9s", "-peer-port", "0", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "/srv/store" || c.Stall != 9*time.Second || c.PeerPort != 0 {
		t.Errorf("store %q stall %v peer-port %d: want the file's store and the flags' stall and peer-port", c.Store, c.Stall, c.PeerPort)
	}
	if want := []string{"http://a.example.org/pub", "https://b.example.org"}; !slices.Equal(c.Allow, want) {
		t.Errorf("allow = %q, want %q", c.Allow, want)
	}
	if !slices.Equal(c.Packages, []string{"*.drpm"}) {
		t.Errorf("packages = %q: the file's first line replaces the default", c.Packages)
	}
	if !slices.Equal(rest, []string{"x"}) {
		t.Errorf("arguments left = %q", rest)
	}
	c, _, err = Load("u", []string{"-config", f, "-allow", "http://c.example.org/"}, io.Discard)
	if err != nil || !slices.Equal(c.Allow, []string{"http://c.example.org/"}) {
		t.Errorf("allow = %q (%v): the first -allow flag replaces the file's", c.Allow, err)
	}
}

func TestBadSettings(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-allow", "ftp://x/"}, "allow:"},
		{[]string{"-allow", "http://user@x/"}, "allow:"},
		{[]string{"-peer-port", "70000"}, "peer-port:"},
		{[]string{"-store-size", "0"}, "store-size"},
		{[]string{"-seed-min", "2h", "-seed-max", "1h"}, "seed-min"},
		{[]string{"-packages", "a/*.rpm"}, "packages:"},
		{[]string{"-tracker", "ws://x/announce"}, "tracker:"},
		{[]string{"-listen", "nope"}, "listen:"},
		{[]string{"-peer-host", "host.example.org"}, "peer-host:"},
		{[]string{"-stall", "0s"}, "stall:"},
		{[]string{"-log-level", "loud"}, "log-level:"},
	} {
		_, _, err := Load("u", c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %q", c.args, err, c.want)
		}
	}
	if _, _, err := Load("u", []string{"-h"}, io.Discard); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v, want ErrHelp", err)
	}
}

func TestParseMirror(t *testing.T) {
	for in, want := range map[string]Mirror{
		"http://Mirror.Example.org:80/pub": {"http", "mirror.example.org", "/pub/"},
		"https://m.example.org:443":        {"https", "m.example.org", "/"},
		"https://m.example.org:8443/a/":    {"https", "m.example.org:8443", "/a/"},
		"http://[::1]:80/x":                {"http", "[::1]", "/x/"},
	} {
		got, err := ParseMirror(in)
		if err != nil || got != want {
			t.Errorf("ParseMirror(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}
