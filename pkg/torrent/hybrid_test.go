package torrent

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

func TestComparePaths(t *testing.T) {
	paths := []string{"yum/a-b/x", "yum/a/y", "yum/a/b/z", "yum/A", "yum/a.rpm"}
	slices.SortFunc(paths, ComparePaths)
	// By component: "A" < "a" < "a-b" < "a.rpm"; within "a", "b" < "y".
	want := []string{"yum/A", "yum/a/b/z", "yum/a/y", "yum/a-b/x", "yum/a.rpm"}
	if !slices.Equal(paths, want) {
		t.Errorf("sorted = %q, want %q", paths, want)
	}
}

func TestHybridOrderAndPadding(t *testing.T) {
	hash := func(p string, n int) File {
		d, err := pieces.HashHybrid(bytes.NewReader(bytes.Repeat([]byte(p), n)[:n]), 16<<10)
		if err != nil {
			t.Fatal(err)
		}
		return File{Path: p, Digests: d}
	}
	// Posted order differs from the file tree order.
	files := []File{hash("yum/a-b/x", 100), hash("yum/a/y", 16<<10), hash("yum/a/b/z", 40000)}
	info, layers, err := HybridInfo(files, false, "svc")
	if err != nil {
		t.Fatal(err)
	}
	d := decodeDict(t, info)
	if !slices.Equal(d.keys, []string{"file tree", "files", "meta version", "name", "piece length", "pieces"}) {
		t.Errorf("info keys %q", d.keys)
	}
	var got []string
	for _, e := range asList(d.vals["files"]) {
		var parts []string
		for _, c := range asList(e.(*bdict).vals["path"]) {
			parts = append(parts, c.(string))
		}
		got = append(got, strings.Join(parts, "/"))
	}
	// z (40000 bytes) and x (100 bytes) are padded, x last too; y is one
	// exact piece.
	want := []string{"a/b/z", "svc/nullfile/9152_0", "a/y", "a-b/x", "svc/nullfile/16284_0"}
	if !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	// Only z is longer than one piece: one piece layer, under its root.
	ld := decodeDict(t, layers)
	if len(ld.keys) != 1 || ld.keys[0] != string(files[2].Digests.Root[:]) || ld.vals[ld.keys[0]].(string) != string(files[2].Digests.Layer) {
		t.Errorf("piece layers: %d keys, want z's layer under z's root", len(ld.keys))
	}
	if _, _, err := HybridInfo([]File{{Path: "yum/a", Digests: &pieces.Digests{PieceLength: 16 << 10}}}, true, "svc"); err == nil {
		t.Errorf("digests without v2 hashes: no error")
	}
}

func TestMetainfoExtras(t *testing.T) {
	info := []byte("d4:name1:xe")
	out := Metainfo(info, Extras{
		Trackers:    []string{"udp://t.example:1"},
		WebSeeds:    []string{"http://a.example/", "https://b.example/pub/"},
		Nodes:       []Node{{"router.example", 6881}, {"2001:db8::1", 1}},
		PieceLayers: []byte("de"),
	})
	d := decodeDict(t, out)
	if want := []string{"announce", "announce-list", "info", "nodes", "piece layers", "url-list"}; !slices.Equal(d.keys, want) {
		t.Errorf("keys %q, want %q", d.keys, want)
	}
	if got := string(d.raw["nodes"]); got != "ll14:router.examplei6881eel11:2001:db8::1i1eee" {
		t.Errorf("nodes = %s", got)
	}
	if got := string(d.raw["url-list"]); got != "l17:http://a.example/22:https://b.example/pub/e" {
		t.Errorf("url-list = %s", got)
	}
}
