package settings

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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

// TestRepeatableSettings: allow, packages and tracker are repeatable
// (pkg/settings has the rule between the file and the flags).
func TestRepeatableSettings(t *testing.T) {
	f := filepath.Join(t.TempDir(), "agent.conf")
	text := "allow = http://a.example.org/pub\nallow = https://b.example.org\npackages = *.drpm\npackages = *.srpm\ntracker = udp://t.example.org:6969\ntracker = http://t.example.org/announce\n"
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load("u", []string{"-config", f}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Allow) != 2 || !slices.Equal(c.Packages, []string{"*.drpm", "*.srpm"}) || len(c.Trackers) != 2 {
		t.Errorf("allow %q packages %q tracker %q: want two each, without the default *.rpm", c.Allow, c.Packages, c.Trackers)
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
		{[]string{"-store-size", "0"}, "store-size:"},
		{[]string{"-store-size", "1025TiB"}, "store-size"},
		{[]string{"-seed-min", "2h", "-seed-max", "1h"}, "seed-min"},
		{[]string{"-packages", "a/*.rpm"}, "packages:"},
		{[]string{"-tracker", "ws://x/announce"}, "tracker:"},
		{[]string{"-listen", "nope"}, "listen:"},
		{[]string{"-peer-host", "host.example.org"}, "peer-host:"},
		{[]string{"-stall", "0s"}, "stall:"},
		{[]string{"-log-level", "loud"}, "log-level:"},
		{[]string{"-proxy", "socks4://proxy.example.org:1080"}, "proxy:"},
		{[]string{"-proxy", "http://proxy.example.org:3128/path"}, "proxy:"},
		{[]string{"-proxy", "http://"}, "proxy:"},
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

// TestParseProxy: proxy URLs as dnf's proxy option takes them (http://
// when no scheme is given), for the schemes the agent speaks; errors never
// show a password.
func TestParseProxy(t *testing.T) {
	for in, want := range map[string]string{
		"proxy.example.org:3128":                    "http://proxy.example.org:3128",
		"http://u:p@proxy.example.org:3128/":        "http://u:p@proxy.example.org:3128/",
		"https://proxy.example.org":                 "https://proxy.example.org",
		"socks5h://[fd00::1]:1080":                  "socks5h://[fd00::1]:1080",
		"socks4://u:secret@proxy.example.org:1080":  "",
		"http://u:secret@proxy.example.org:3128/x":  "",
		"http://u:secret@proxy.example.org:port":    "",
		"http://u:secret@proxy.example.org:3128?q=": "",
	} {
		u, err := ParseProxy(in)
		got := ""
		if err == nil {
			got = u.String()
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseProxy(%q): the error %q shows the password", in, err)
		}
		if got != want {
			t.Errorf("ParseProxy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
