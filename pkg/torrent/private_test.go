package torrent

import (
	"bytes"
	"slices"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// TestMarkPrivate: in every layout and format, a private info is the
// same info with "private" 1 added where bencoding's key order puts it
// (the strict decoder refuses keys out of order), every other value
// byte for byte unchanged.
func TestMarkPrivate(t *testing.T) {
	hybrid := func(p string, n int) File {
		d, err := pieces.HashHybrid(bytes.NewReader(content(p, int64(n))), pl)
		if err != nil {
			t.Fatal(err)
		}
		return File{Path: p, Digests: d}
	}
	multi := []File{hashFile(t, "yum/a.rpm", pl+5, pl), hashFile(t, "yum/b/c.rpm", 7, pl)}
	hybrids := []File{hybrid("yum/a.rpm", pl+5), hybrid("yum/b/c.rpm", 7)}
	for _, tt := range []struct {
		name  string
		build func() ([]byte, error)
	}{
		{"single", func() ([]byte, error) { return Single(multi[0]) }},
		{"multi pkgtorrent", func() ([]byte, error) { return Multi(multi, "torrent_service", Pkgtorrent) }},
		{"multi bep47", func() ([]byte, error) { return Multi(multi, "torrent_service", BEP47) }},
		{"hybrid single", func() ([]byte, error) {
			info, _, err := HybridInfo(hybrids[:1], true, "torrent_service")
			return info, err
		}},
		{"hybrid multi", func() ([]byte, error) {
			info, _, err := HybridInfo(hybrids, false, "torrent_service")
			return info, err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			before := bytes.Clone(info)
			priv := MarkPrivate(info)
			if !bytes.Equal(info, before) {
				t.Errorf("MarkPrivate changed the info it was given")
			}
			plain, marked := decodeDict(t, info), decodeDict(t, priv)
			if want := append(slices.Clone(plain.keys), "private"); !slices.Equal(marked.keys, want) {
				t.Errorf("private info keys = %q, want %q", marked.keys, want)
			}
			checkValue(t, "private", marked.vals["private"], int64(1))
			for _, k := range plain.keys {
				if !bytes.Equal(marked.raw[k], plain.raw[k]) {
					t.Errorf("%s differs in the private info", k)
				}
			}
			if InfoHash(priv) == InfoHash(info) {
				t.Errorf("the private info has the same info hash")
			}
		})
	}
}
