package config

import (
	"io"
	"slices"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// TestRepeatableSettings: mirror and dht-node are repeatable, in the file
// and as flags (pkg/settings has the rule between the two).
func TestRepeatableSettings(t *testing.T) {
	conf := writeConfig(t, "mirror = https://a.example/pub\nmirror = http://b.example:8080\ndht-node = router.example:6881\nformat = hybrid\n")
	for _, tc := range []struct {
		name       string
		args       []string
		mirrors    []string
		nodes      []string
		wantFormat torrent.Format
	}{
		{"flags", []string{"-mirror", "https://a.example", "-mirror", "https://b.example/x", "-dht-node", "[2001:db8::1]:6881", "-dht-node", "10.0.0.1:1"},
			[]string{"https://a.example", "https://b.example/x"}, []string{"[2001:db8::1]:6881", "10.0.0.1:1"}, torrent.BEP47},
		{"file", []string{"-config", conf},
			[]string{"https://a.example/pub", "http://b.example:8080"}, []string{"router.example:6881"}, torrent.Hybrid},
		{"none", nil, nil, nil, torrent.BEP47},
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

func TestParseNode(t *testing.T) {
	n, err := ParseNode("[2001:db8::1]:6881")
	if err != nil || n != (torrent.Node{Host: "2001:db8::1", Port: 6881}) {
		t.Errorf("ParseNode = %+v, %v", n, err)
	}
}
