package config

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "service.conf")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestRepeatableSettings(t *testing.T) {
	conf := writeConf(t, "mirror = https://a.example/pub\nmirror = http://b.example:8080\ndht-node = router.example:6881\nformat = hybrid\n")
	for _, tc := range []struct {
		name        string
		args        []string
		mirrors     []string
		nodes       []string
		wantFormat  torrent.Format
		wantCleared bool
	}{
		{"flags", []string{"-mirror", "https://a.example", "-mirror", "https://b.example/x", "-dht-node", "[2001:db8::1]:6881", "-dht-node", "10.0.0.1:1"},
			[]string{"https://a.example", "https://b.example/x"}, []string{"[2001:db8::1]:6881", "10.0.0.1:1"}, torrent.BEP47, false},
		{"file", []string{"-config", conf},
			[]string{"https://a.example/pub", "http://b.example:8080"}, []string{"router.example:6881"}, torrent.Hybrid, false},
		{"flags replace the file's list", []string{"-config", conf, "-mirror", "https://c.example"},
			[]string{"https://c.example"}, []string{"router.example:6881"}, torrent.Hybrid, false},
		{"none", nil, nil, nil, torrent.BEP47, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Mirrors, tc.mirrors) || !slices.Equal(c.DHTNodes, tc.nodes) || c.Format != tc.wantFormat {
				t.Errorf("mirrors %q nodes %q format %s, want %q %q %s", c.Mirrors, c.DHTNodes, c.Format, tc.mirrors, tc.nodes, tc.wantFormat)
			}
		})
	}
}

func TestRepeatableSettingsValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mirror", "ftp://a.example"}, "mirror"},
		{[]string{"-mirror", "https://a.example/?q=1"}, "mirror"},
		{[]string{"-mirror", "a.example"}, "mirror"},
		{[]string{"-dht-node", "router.example"}, "dht-node"},
		{[]string{"-dht-node", "router.example:0"}, "dht-node"},
		{[]string{"-dht-node", "router.example:70000"}, "dht-node"},
		{[]string{"-dht-node", ":6881"}, "dht-node"},
		{[]string{"-dht-node", "a b:6881"}, "dht-node"},
	} {
		if _, err := Load(tc.args, io.Discard); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}

func TestParseNode(t *testing.T) {
	n, err := ParseNode("[2001:db8::1]:6881")
	if err != nil || n != (torrent.Node{Host: "2001:db8::1", Port: 6881}) {
		t.Errorf("ParseNode = %+v, %v", n, err)
	}
}
