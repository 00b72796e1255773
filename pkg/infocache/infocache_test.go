package infocache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
)

// refEncode writes an entry following the layout documented on Encode,
// independently of it, with a chosen version and flags word.
func refEncode(e *Entry, ver, flags uint16) []byte {
	var b []byte
	field := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = append(b, "PTIC"...)
	b = binary.BigEndian.AppendUint16(b, ver)
	b = binary.BigEndian.AppendUint16(b, flags)
	field(e.Request)
	field(e.Settings)
	field(string(e.Info))
	if ver >= 2 { // the piece layers and the build time
		field(string(e.PieceLayers))
		var built uint64
		if !e.Built.IsZero() {
			built = uint64(e.Built.UnixNano())
		}
		b = binary.BigEndian.AppendUint64(b, built)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Paths)))
	for i, p := range e.Paths {
		field(p)
		st := e.Stamps[i]
		fields := []uint64{uint64(st.Size), uint64(st.MtimeNs), uint64(st.CtimeNs), st.Dev, st.Ino}
		if ver < 3 { // no ctime
			fields = slices.Delete(fields, 2, 3)
		}
		for _, v := range fields {
			b = binary.BigEndian.AppendUint64(b, v)
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func flagsOf(e *Entry) uint16 {
	if e.Single {
		return 1
	}
	return 0
}

func sampleEntries() map[string]*Entry {
	return map[string]*Entry{
		"multi": {
			Request:  "yum/el9/a.rpm\nyum/el9/b.rpm",
			Settings: "format=bep47 piece-length=1048576 service-name=torrent_service root=/srv",
			Paths:    []string{"yum/el9/a.rpm", "yum/el9/b.rpm"},
			Stamps: []piececache.Stamp{
				{Size: 1, MtimeNs: 1700000000000000000, CtimeNs: 1700000001000000007, Dev: 2049, Ino: 12},
				{Size: 3 << 20, MtimeNs: -5, CtimeNs: -6, Dev: 1<<64 - 1, Ino: 1<<63 + 7},
			},
			Info:        []byte("d5:filesld6:lengthi1e4:pathl5:a.rpmeee4:name3:yume"),
			PieceLayers: []byte("d32:" + strings.Repeat("r", 32) + "64:" + strings.Repeat("l", 64) + "e"),
			Built:       time.Unix(1700000000, 123456789),
		},
		"single": {
			Request:  "\x00single\nyum/iso/*.iso",
			Settings: "format=pkgtorrent",
			Single:   true,
			Paths:    []string{"yum/iso/boot.iso"},
			Stamps:   []piececache.Stamp{{Size: 2097229, MtimeNs: 1, Dev: 3, Ino: 4}},
			Info:     []byte("d6:lengthi2097229e4:name8:boot.isoe"),
			Built:    time.Unix(1, 0),
		},
		"no files and empty fields": {},
		"binary info and unicode paths": {
			Request:  "über/ß.rpm",
			Settings: "s",
			Paths:    []string{"über/ß.rpm"},
			Stamps:   []piececache.Stamp{{}},
			Info:     []byte{0, 1, 2, 0xff, 'e'},
		},
	}
}

func sameEntry(a, b *Entry) bool {
	return a.Request == b.Request && a.Settings == b.Settings && a.Single == b.Single &&
		slices.Equal(a.Paths, b.Paths) && slices.Equal(a.Stamps, b.Stamps) && bytes.Equal(a.Info, b.Info) &&
		bytes.Equal(a.PieceLayers, b.PieceLayers) && a.Built.Equal(b.Built)
}

func TestKey(t *testing.T) {
	tests := []struct {
		request, want string
	}{
		// FIPS 180 test vectors.
		{"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
	}
	for _, tt := range tests {
		if got := Key(tt.request); got != tt.want {
			t.Errorf("Key(%q) = %s, want %s", tt.request, got, tt.want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			b := Encode(e)
			if want := refEncode(e, 3, flagsOf(e)); !bytes.Equal(b, want) {
				t.Fatalf("Encode = %x, want %x (the documented layout)", b, want)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(e)) error = %v, want nil", err)
			}
			if !sameEntry(got, e) {
				t.Errorf("Decode(Encode(e)) = %+v, want %+v", got, e)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, e := range sampleEntries() {
		b := Encode(e)
		for n := range len(b) {
			if _, err := Decode(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: Decode of the first %d of %d bytes: error = %v, want %v", name, n, len(b), err, ErrCorrupt)
			}
		}
		if _, err := Decode(append(bytes.Clone(b), 0)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode with a byte appended: error = %v, want %v", name, err, ErrCorrupt)
		}
	}
}

func TestDecodeBitFlips(t *testing.T) {
	for name, e := range sampleEntries() {
		b := Encode(e)
		for i := range b {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(b)
				c[i] ^= mask
				if _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: byte %d xor %#02x: error = %v, want %v", name, i, mask, err, ErrCorrupt)
				}
			}
		}
	}
}

// TestDecodeForeign checks inputs that are not version-1 entries, including
// ones with a valid checksum whose lengths do not add up.
func TestDecodeForeign(t *testing.T) {
	e := sampleEntries()["multi"]
	valid := Encode(e)
	otherMagic := bytes.Clone(valid)
	copy(otherMagic, "PTPC")
	withCRC := func(body []byte) []byte {
		return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	}
	// A request field that claims more bytes than there are.
	longField := withCRC(append([]byte("PTIC\x00\x02\x00\x00"), 0, 0, 0x10, 0, 'x'))
	// Two files announced, one present.
	oneOfTwo := refEncode(&Entry{Paths: []string{"a/b"}, Stamps: []piececache.Stamp{{}}}, 3, 0)
	body := oneOfTwo[:len(oneOfTwo)-4]
	binary.BigEndian.PutUint32(body[8+24:], 2)
	twoFiles := withCRC(bytes.Clone(body))
	// Zero files announced, one present: bytes left over.
	binary.BigEndian.PutUint32(body[8+24:], 0)
	leftOver := withCRC(bytes.Clone(body))
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", []byte("PTIC\x00\x01")},
		{"text", []byte("this is a text file that happens to sit in the info cache folder\n")},
		{"zeros", make([]byte, 64)},
		{"another magic", otherMagic},
		{"a piece cache entry", append([]byte("PTPC\x00\x01\x00\x00"), make([]byte, 68)...)},
		{"version 1 (before piece layers) with a valid checksum", refEncode(e, 1, 0)},
		{"version 2 (before the ctime) with a valid checksum", refEncode(e, 2, 0)},
		{"version 4 with a valid checksum", refEncode(e, 4, 0)},
		{"unknown flag with a valid checksum", refEncode(e, 3, 2)},
		{"field longer than the entry", longField},
		{"more files announced than present", twoFiles},
		{"bytes left over", leftOver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode error = %v, want %v", err, ErrCorrupt)
			}
			if got != nil {
				t.Errorf("Decode entry = %+v, want nil", got)
			}
		})
	}
}

func TestStore(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			if err := s.Save(e); err != nil {
				t.Fatalf("Save: %v", err)
			}
			key := Key(e.Request)
			if want := filepath.Join(s.Dir, key); s.Path(key) != want {
				t.Errorf("Path(%s) = %s, want %s", key, s.Path(key), want)
			}
			fi, err := os.Stat(s.Path(key))
			if err != nil {
				t.Fatalf("entry file: %v", err)
			}
			got, checked, err := s.Load(key)
			if err != nil {
				t.Fatalf("Load error = %v, want nil", err)
			}
			if !sameEntry(got, e) {
				t.Errorf("Load = %+v, want %+v", got, e)
			}
			if !checked.Equal(fi.ModTime()) {
				t.Errorf("Load checked time = %v, want the file's mtime %v", checked, fi.ModTime())
			}
		})
	}
}

func TestStoreLoadErrors(t *testing.T) {
	entries := sampleEntries()
	multi, single := entries["multi"], entries["single"]
	tests := []struct {
		name    string
		prepare func(t *testing.T, s Store) string // returns the key to load
		want    error
	}{
		{"missing", func(*testing.T, Store) string { return Key("nothing") }, fs.ErrNotExist},
		{"corrupt", func(t *testing.T, s Store) string {
			b := Encode(multi)
			b[len(b)/2] ^= 1
			writeFile(t, s.Path(Key(multi.Request)), b)
			return Key(multi.Request)
		}, ErrCorrupt},
		{"truncated", func(t *testing.T, s Store) string {
			b := Encode(multi)
			writeFile(t, s.Path(Key(multi.Request)), b[:len(b)-1])
			return Key(multi.Request)
		}, ErrCorrupt},
		{"empty file", func(t *testing.T, s Store) string {
			writeFile(t, s.Path(Key(multi.Request)), nil)
			return Key(multi.Request)
		}, ErrCorrupt},
		{"valid entry under another request's key", func(t *testing.T, s Store) string {
			if err := s.Save(single); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(s.Path(Key(single.Request)))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, s.Path(Key(multi.Request)), b)
			return Key(multi.Request)
		}, ErrCorrupt},
		{"larger than any entry", func(t *testing.T, s Store) string {
			name := s.Path(Key(multi.Request))
			writeFile(t, name, nil)
			if err := os.Truncate(name, 1<<30+1); err != nil { // sparse: no disk used
				t.Fatal(err)
			}
			return Key(multi.Request)
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Store{Dir: t.TempDir()}
			key := tt.prepare(t, s)
			e, checked, err := s.Load(key)
			if !errors.Is(err, tt.want) {
				t.Errorf("Load error = %v, want %v", err, tt.want)
			}
			if e != nil || !checked.IsZero() {
				t.Errorf("Load = %+v, %v; want nil and the zero time", e, checked)
			}
		})
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTouch(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	e := sampleEntries()["multi"]
	if err := s.Save(e); err != nil {
		t.Fatal(err)
	}
	key := Key(e.Request)
	for _, when := range []time.Time{
		time.Unix(1600000000, 0),
		time.Unix(1800000000, 123456789),
	} {
		if err := s.Touch(key, when); err != nil {
			t.Fatalf("Touch(%v): %v", when, err)
		}
		_, checked, err := s.Load(key)
		if err != nil {
			t.Fatalf("Load after Touch: %v", err)
		}
		if !checked.Equal(when) {
			t.Errorf("checked time after Touch(%v) = %v, want %v", when, checked, when)
		}
	}
	err := s.Touch(Key("no such entry"), time.Now())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Touch of a missing entry: error = %v, want %v", err, fs.ErrNotExist)
	}
}

func TestSaveLeavesNoTemporaryFiles(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, e := range sampleEntries() {
		for range 3 {
			if err := s.Save(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".") || len(ent.Name()) != 40 {
			t.Errorf("info cache folder holds %q, want only 40-hex entry names", ent.Name())
		}
	}
	if len(ents) != len(sampleEntries()) {
		t.Errorf("info cache folder holds %d files, want %d", len(ents), len(sampleEntries()))
	}
}

// TestSettings: a public torrent's settings text is the one the entries
// already on disk hold, so they stay valid; a private torrent's differs
// from every public one, even where a service name holds " private=1";
// RootOf reads the root of both.
func TestSettings(t *testing.T) {
	public := Settings("bep47", 1<<20, false, "torrent_service", "/srv/www")
	if want := "format=bep47 piece-length=1048576 service-name=torrent_service root=/srv/www"; public != want {
		t.Errorf("public settings %q, want %q", public, want)
	}
	private := Settings("bep47", 1<<20, true, "torrent_service", "/srv/www")
	for _, other := range []string{public, Settings("bep47", 1<<20, false, "torrent_service private=1", "/srv/www"),
		Settings("bep47", 1<<20, false, "torrent_service", "/srv/www private=1")} {
		if private == other {
			t.Errorf("private settings %q equal a public one", private)
		}
	}
	for _, s := range []string{public, private} {
		if root, ok := RootOf(s); !ok || root != "/srv/www" {
			t.Errorf("RootOf(%q) = %q, %v; want /srv/www", s, root, ok)
		}
	}
}
