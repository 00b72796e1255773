package torrent

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

const pl = 16 << 10 // the piece length of these tests

// content returns deterministic bytes for a test file.
func content(name string, n int64) []byte {
	var seed uint64
	for _, c := range []byte(name) {
		seed = seed*131 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// hashFile hashes test content with package pieces, as the service does.
func hashFile(t testing.TB, p string, size, pieceLength int64) File {
	t.Helper()
	d, err := pieces.Hash(bytes.NewReader(content(p, size)), pieceLength)
	if err != nil {
		t.Fatalf("pieces.Hash(%s): %v", p, err)
	}
	return File{Path: p, Digests: d}
}

// refPieces is SHA-1 of every piece of data, the last one bare.
func refPieces(data []byte, pieceLength int) []byte {
	var out []byte
	for off := 0; off < len(data); off += pieceLength {
		sum := sha1.Sum(data[off:min(off+pieceLength, len(data))])
		out = append(out, sum[:]...)
	}
	return out
}

// wantEntry is one expected entry of "files".
type wantEntry struct {
	length int64
	path   []string
	pad    bool
}

// model lays files out the way PROTOCOL.md describes, independently of
// Multi: the entries, and the concatenated bytes the pieces cover.
func model(names []string, sizes []int64, pieceLength int64, service string) ([]wantEntry, []byte) {
	var entries []wantEntry
	var data []byte
	used := map[int64]int{}
	for i, name := range names {
		_, rest, _ := strings.Cut(name, "/")
		entries = append(entries, wantEntry{length: sizes[i], path: strings.Split(rest, "/")})
		data = append(data, content(name, sizes[i])...)
		if i == len(names)-1 || sizes[i]%pieceLength == 0 {
			continue
		}
		pad := pieceLength - sizes[i]%pieceLength
		k := used[pad]
		used[pad]++
		entries = append(entries, wantEntry{
			length: pad,
			path:   []string{service, "nullfile", fmt.Sprintf("%d_%d", pad, k)},
			pad:    true,
		})
		data = append(data, make([]byte, pad)...)
	}
	return entries, data
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"pkgtorrent", Pkgtorrent, false},
		{"bep47", BEP47, false},
		{"hybrid", Hybrid, false},
		{"BEP47", "", true},
		{"", "", true},
		{"bep52", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseFormat(%q) = %q, %v; want %q, error: %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNullfileName(t *testing.T) {
	tests := []struct {
		pad  int64
		k    int
		want string
	}{
		{1048575, 0, "1048575_0"},
		{1, 12, "1_12"},
		{524288, 3, "524288_3"},
	}
	for _, tt := range tests {
		if got := NullfileName(tt.pad, tt.k); got != tt.want {
			t.Errorf("NullfileName(%d, %d) = %q, want %q", tt.pad, tt.k, got, tt.want)
		}
	}
}

func TestCheckFolders(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  error
	}{
		{"one file", []string{"yum/a.rpm"}, nil},
		{"same top folder", []string{"yum/el9/a.rpm", "yum/iso/b.iso", "yum/c"}, nil},
		{"no files", nil, nil},
		{"two top folders", []string{"yum/a.rpm", "apt/b.deb"}, ErrMixedFolders},
		{"prefix is not the same folder", []string{"yum/a.rpm", "yum2/b.rpm"}, ErrMixedFolders},
		{"file at the top", []string{"a.rpm"}, ErrNoFolder},
		{"file at the top after others", []string{"yum/a.rpm", "yum"}, ErrNoFolder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFolders(tt.paths)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("CheckFolders(%q) = %v, want %v", tt.paths, err, tt.want)
			}
		})
	}
}

func TestSingle(t *testing.T) {
	tests := []struct {
		name string
		path string
		size int64
	}{
		{"empty", "yum/iso/empty.iso", 0},
		{"one byte", "yum/x/one.rpm", 1},
		{"exactly one piece", "yum/x/piece.rpm", pl},
		{"pieces and a tail", "yum/iso/boot.iso", 3*pl + 77},
		{"exact multiple", "yum/iso/exact.iso", 4 * pl},
		{"at the top of the root", "top.iso", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := hashFile(t, tt.path, tt.size, pl)
			info, err := Single(f)
			if err != nil {
				t.Fatalf("Single: %v", err)
			}
			d := decodeDict(t, info)
			if want := []string{"length", "name", "piece length", "pieces"}; !slices.Equal(d.keys, want) {
				t.Errorf("info keys = %q, want %q", d.keys, want)
			}
			base := tt.path[strings.LastIndexByte(tt.path, '/')+1:]
			wantPieces := string(refPieces(content(tt.path, tt.size), pl))
			checkValue(t, "length", d.vals["length"], tt.size)
			checkValue(t, "name", d.vals["name"], base)
			checkValue(t, "piece length", d.vals["piece length"], int64(pl))
			if d.vals["pieces"] != wantPieces {
				t.Errorf("pieces = %x, want %x", d.vals["pieces"], wantPieces)
			}
		})
	}
}

func checkValue(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestMulti(t *testing.T) {
	type file struct {
		name string
		size int64
	}
	tests := []struct {
		name  string
		files []file
	}{
		{"one file with a tail", []file{{"yum/el9/a.rpm", 2*pl + 5}}},
		{"one empty file", []file{{"yum/e.rpm", 0}}},
		{"padding after each file but the last", []file{
			{"yum/el9/a.rpm", 100}, {"yum/el9/b.rpm", pl + 100}, {"yum/el9/c.rpm", 3*pl - 1},
		}},
		{"same pad size counted from 0", []file{
			{"yum/a", 1}, {"yum/b", pl + 1}, {"yum/c", 2}, {"yum/d", 2*pl + 1}, {"yum/e", 7},
		}},
		{"no padding after exact multiples and empty files", []file{
			{"yum/a", pl}, {"yum/b", 0}, {"yum/c", 3}, {"yum/d", 2 * pl}, {"yum/e", 0}, {"yum/f", 5},
		}},
		{"last file an exact multiple", []file{{"yum/a", 10}, {"yum/b", 2 * pl}}},
		{"last file empty", []file{{"yum/a", 10}, {"yum/b", 0}}},
		{"only empty files", []file{{"yum/a", 0}, {"yum/b", 0}}},
		{"deep and odd names", []file{
			{"yum/el9/x86_64/Packages/libstdc++-devel-11.4.1-2.el9.x86_64.rpm", 700},
			{"yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm", 5000},
			{"yum/iso/boot.iso", pl + 3},
		}},
	}
	for _, tt := range tests {
		for _, format := range []Format{Pkgtorrent, BEP47} {
			t.Run(tt.name+"/"+string(format), func(t *testing.T) {
				var files []File
				var names []string
				var sizes []int64
				for _, f := range tt.files {
					files = append(files, hashFile(t, f.name, f.size, pl))
					names = append(names, f.name)
					sizes = append(sizes, f.size)
				}
				info, err := Multi(files, "torrent_service", format)
				if err != nil {
					t.Fatalf("Multi: %v", err)
				}
				wantEntries, data := model(names, sizes, pl, "torrent_service")
				checkMulti(t, info, format, "yum", wantEntries, data)
			})
		}
	}
}

// checkMulti decodes a multi-file info and compares it with the model.
func checkMulti(t *testing.T, info []byte, format Format, name string, want []wantEntry, data []byte) {
	t.Helper()
	d := decodeDict(t, info)
	if wantKeys := []string{"files", "name", "piece length", "pieces"}; !slices.Equal(d.keys, wantKeys) {
		t.Errorf("info keys = %q, want %q", d.keys, wantKeys)
	}
	checkValue(t, "name", d.vals["name"], name)
	checkValue(t, "piece length", d.vals["piece length"], int64(pl))
	if wantPieces := string(refPieces(data, pl)); d.vals["pieces"] != wantPieces {
		t.Errorf("pieces = %x, want %x", d.vals["pieces"], wantPieces)
	}
	files, ok := d.vals["files"].([]any)
	if !ok {
		t.Fatalf("files is a %T, want a list", d.vals["files"])
	}
	if len(files) != len(want) {
		t.Errorf("%d entries in files, want %d", len(files), len(want))
	}
	for i := range min(len(files), len(want)) {
		e, ok := files[i].(*bdict)
		if !ok {
			t.Errorf("files[%d] is a %T, want a dictionary", i, files[i])
			continue
		}
		wantKeys := []string{"length", "path"}
		if want[i].pad && format == BEP47 {
			wantKeys = []string{"attr", "length", "path"}
			checkValue(t, fmt.Sprintf("files[%d].attr", i), e.vals["attr"], "p")
		}
		if !slices.Equal(e.keys, wantKeys) {
			t.Errorf("files[%d] keys = %q, want %q", i, e.keys, wantKeys)
		}
		checkValue(t, fmt.Sprintf("files[%d].length", i), e.vals["length"], want[i].length)
		var path []string
		for _, c := range asList(e.vals["path"]) {
			s, _ := c.(string)
			path = append(path, s)
		}
		if !slices.Equal(path, want[i].path) {
			t.Errorf("files[%d].path = %q, want %q", i, path, want[i].path)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestMultiErrors(t *testing.T) {
	a := hashFile(t, "yum/a", 10, pl)
	tests := []struct {
		name  string
		files []File
		want  error
	}{
		{"no files", nil, ErrNoFiles},
		{"two top folders", []File{a, hashFile(t, "apt/b", 10, pl)}, ErrMixedFolders},
		{"file at the top", []File{hashFile(t, "b", 10, pl)}, ErrNoFolder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Multi(tt.files, "torrent_service", BEP47)
			if !errors.Is(err, tt.want) {
				t.Errorf("Multi error = %v, want %v", err, tt.want)
			}
			if info != nil {
				t.Errorf("Multi info = %q, want nil", info)
			}
		})
	}
	t.Run("mixed piece lengths", func(t *testing.T) {
		info, err := Multi([]File{a, hashFile(t, "yum/b", 10, 2*pl)}, "torrent_service", BEP47)
		if err == nil || !strings.Contains(err.Error(), "piece length") {
			t.Errorf("Multi error = %v, want one about the piece length", err)
		}
		if info != nil {
			t.Errorf("Multi info = %q, want nil", info)
		}
	})
}

// TestMultiDoesNotModifyDigests guards the reuse of cached digests: laying
// a file out last (bare tail) must not change its padded digests for the
// next torrent.
func TestMultiDoesNotModifyDigests(t *testing.T) {
	a, b := hashFile(t, "yum/a", pl+3, pl), hashFile(t, "yum/b", 7, pl)
	before := bytes.Clone(b.Digests.Padded)
	if _, err := Multi([]File{a, b}, "torrent_service", BEP47); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Digests.Padded, before) {
		t.Errorf("digests of the last file changed to %x, want %x", b.Digests.Padded, before)
	}
	info, err := Multi([]File{b, a}, "torrent_service", BEP47)
	if err != nil {
		t.Fatal(err)
	}
	want, data := model([]string{"yum/b", "yum/a"}, []int64{7, pl + 3}, pl, "torrent_service")
	checkMulti(t, info, BEP47, "yum", want, data)
}

func TestInfoHash(t *testing.T) {
	// FIPS 180 test vector.
	want := "a9993e364706816aba3e25717850c26c9cd0d89d"
	if got := fmt.Sprintf("%x", InfoHash([]byte("abc"))); got != want {
		t.Errorf("InfoHash(abc) = %s, want %s", got, want)
	}
}

// BenchmarkMulti lays out and encodes a torrent of 2000 files, as a large
// yum transaction asks for; the digests are synthetic. Encoded through
// reflection, these 2000 files took 6 ms and 46 000 allocations, most of
// the time of a new combination of hashed files.
func BenchmarkMulti(b *testing.B) {
	const n = 2000
	const pieceLength = 1 << 20
	r := rand.New(rand.NewPCG(1, 2))
	files := make([]File, n)
	for i := range files {
		size := r.Int64N(8 << 20)
		d := &pieces.Digests{PieceLength: pieceLength, Size: size, Padded: make([]byte, (size+pieceLength-1)/pieceLength*sha1.Size)}
		for j := range d.Padded {
			d.Padded[j] = byte(r.Uint32())
		}
		files[i] = File{Path: fmt.Sprintf("yum/el9/x86_64/Packages/package-%04d-1.0-1.el9.x86_64.rpm", i), Digests: d}
	}
	info, err := Multi(files, "torrent_service", BEP47)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(info)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Multi(files, "torrent_service", BEP47); err != nil {
			b.Fatal(err)
		}
	}
}
