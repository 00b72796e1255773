package piececache

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// digestsOf builds Digests for a file of size bytes without reading one:
// the digests are arbitrary but distinct, which is all the cache cares for.
func digestsOf(size, pl int64, seed uint64) *pieces.Digests {
	r := rand.New(rand.NewPCG(seed, 1))
	n := (size + pl - 1) / pl
	d := &pieces.Digests{PieceLength: pl, Size: size, Padded: make([]byte, n*sha1.Size)}
	for i := range d.Padded {
		d.Padded[i] = byte(r.Uint32())
	}
	if size%pl != 0 {
		for i := range d.Tail {
			d.Tail[i] = byte(r.Uint32())
		}
	}
	return d
}

// refEncode writes an entry following the layout documented in format.go,
// independently of Encode.
func refEncode(st Stamp, d *pieces.Digests, ver, flags uint16, count uint32) []byte {
	var b []byte
	b = append(b, "PTPC"...)
	b = binary.BigEndian.AppendUint16(b, ver)
	b = binary.BigEndian.AppendUint16(b, flags)
	fields := []uint64{uint64(d.PieceLength), uint64(st.Size), uint64(st.MtimeNs), uint64(st.CtimeNs), st.Dev, st.Ino}
	if ver < 3 { // no ctime
		fields = slices.Delete(fields, 3, 4)
	}
	for _, v := range fields {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = append(b, d.Tail[:]...)
	b = binary.BigEndian.AppendUint32(b, count)
	b = append(b, d.Padded...)
	if flags&1 != 0 { // the v2 pieces root and piece layer
		b = append(b, d.Root[:]...)
		b = append(b, d.Layer...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func validEntry(size, pl int64) (Stamp, *pieces.Digests, []byte) {
	st := Stamp{Size: size, MtimeNs: 1700000000123456789, CtimeNs: 1700000001987654321, Dev: 0x803, Ino: 4242}
	d := digestsOf(size, pl, uint64(size))
	return st, d, refEncode(st, d, 3, 0, uint32(d.NumPieces()))
}

func sameDigests(a, b *pieces.Digests) bool {
	return a.PieceLength == b.PieceLength && a.Size == b.Size && bytes.Equal(a.Padded, b.Padded) && a.Tail == b.Tail
}

func TestEncodeDecode(t *testing.T) {
	const kib = 1 << 10
	tests := []struct {
		name string
		size int64
		pl   int64
	}{
		{"empty file", 0, 16 * kib},
		{"one byte", 1, 16 * kib},
		{"exactly one piece", 16 * kib, 16 * kib},
		{"one piece plus one", 16*kib + 1, 16 * kib},
		{"exact multiple of 1 MiB", 3 << 20, 1 << 20},
		{"several pieces and a tail", 2621563, 1 << 20},
		{"many pieces", 2000 * 16 * kib, 16 * kib},
		{"largest piece length", 100 << 20, 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, d, want := validEntry(tt.size, tt.pl)
			b := Encode(st, d)
			if !bytes.Equal(b, want) {
				t.Fatalf("Encode = %x, want %x (the documented layout)", b, want)
			}
			gotSt, gotD, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(...)) error = %v, want nil", err)
			}
			if gotSt != st {
				t.Errorf("stamp = %+v, want %+v", gotSt, st)
			}
			if !sameDigests(gotD, d) {
				t.Errorf("digests = %+v, want %+v", gotD, d)
			}
			b[len(b)/2] ^= 0xff
			if len(gotD.Padded) > 0 && !bytes.Equal(gotD.Padded, d.Padded) {
				t.Errorf("decoded digests changed when the input was modified: they alias it")
			}
		})
	}
}

// TestDecodeTruncated checks that every proper prefix of valid entries is
// rejected as corrupt.
func TestDecodeTruncated(t *testing.T) {
	for _, size := range []int64{0, 1, 16 << 10, 50 << 10} {
		_, _, b := validEntry(size, 16<<10)
		for n := range len(b) {
			if _, _, err := Decode(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("size %d: Decode of the first %d of %d bytes: error = %v, want %v", size, n, len(b), err, ErrCorrupt)
			}
		}
		longer := append(bytes.Clone(b), 0)
		if _, _, err := Decode(longer); !errors.Is(err, ErrCorrupt) {
			t.Errorf("size %d: Decode with one byte appended: error = %v, want %v", size, err, ErrCorrupt)
		}
	}
}

// TestDecodeBitFlips flips every single byte (and single bits) of valid
// entries: no damaged entry may decode.
func TestDecodeBitFlips(t *testing.T) {
	for _, size := range []int64{0, 5, 40 << 10} {
		_, _, b := validEntry(size, 16<<10)
		for i := range b {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(b)
				c[i] ^= mask
				if _, _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
					t.Errorf("size %d: byte %d xor %#02x: error = %v, want %v", size, i, mask, err, ErrCorrupt)
				}
			}
		}
	}
}

// TestDecodeForeign checks files that are not version-2 piece cache
// entries, including well-checksummed ones whose fields disagree.
func TestDecodeForeign(t *testing.T) {
	st, d, valid := validEntry(40<<10, 16<<10)
	random := make([]byte, len(valid))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	otherMagic := bytes.Clone(valid)
	copy(otherMagic, "PTIC")
	badPL := *d
	badPL.PieceLength = 1000
	tooFew := *d
	tooFew.Padded = d.Padded[:sha1.Size]
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"random bytes", random},
		{"text", []byte("#!/bin/sh\necho this is not a cache entry at all, not at all\n")},
		{"zeros", make([]byte, len(valid))},
		{"another magic", otherMagic},
		{"version 1 (before v2 layers) with a valid checksum", refEncode(st, d, 1, 0, 3)},
		{"version 2 (before the ctime) with a valid checksum", refEncode(st, d, 2, 0, 3)},
		{"version 4 with a valid checksum", refEncode(st, d, 4, 0, 3)},
		{"version 0 with a valid checksum", refEncode(st, d, 0, 0, 3)},
		{"unknown flag set with a valid checksum", refEncode(st, d, 3, 2, 3)},
		{"v2 flag without the v2 layer", refEncode(st, d, 3, 1, 3)[:len(refEncode(st, d, 3, 0, 3))]},
		{"count disagrees with size", refEncode(st, d, 3, 0, 2)},
		{"digests missing for the count", refEncode(st, &tooFew, 3, 0, 3)},
		{"piece length not a power of two", refEncode(st, &badPL, 3, 0, 3)},
		{"negative size", refEncode(Stamp{Size: -1}, &pieces.Digests{PieceLength: 16 << 10}, 3, 0, 0)},
		// More than 1 TiB of 16 KiB pieces, with count and size agreeing.
		{"count above the 1 TiB bound", refEncode(Stamp{Size: (1<<26 + 1) * 16 << 10}, &pieces.Digests{PieceLength: 16 << 10}, 3, 0, 1<<26+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, gotD, err := Decode(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode error = %v, want %v", err, ErrCorrupt)
			}
			if gotD != nil {
				t.Errorf("Decode digests = %+v, want nil", gotD)
			}
		})
	}
}

func TestStampOf(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1700000000, 987654321)
	if err := os.Chtimes(name, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	var sys syscall.Stat_t
	if err := syscall.Stat(name, &sys); err != nil {
		t.Fatal(err)
	}
	// The ctime is the kernel's: the time of the Chtimes, which cannot set it.
	want := Stamp{Size: 5, MtimeNs: mtime.UnixNano(), CtimeNs: sys.Ctim.Sec*1e9 + sys.Ctim.Nsec, Dev: uint64(sys.Dev), Ino: uint64(sys.Ino)}
	if ct := time.Unix(0, want.CtimeNs); time.Since(ct) > time.Minute || ct.Equal(mtime) {
		t.Fatalf("ctime %v: not the time of the test", ct)
	}
	got := StampOf(fi)
	if got != want {
		t.Errorf("StampOf = %+v, want %+v", got, want)
	}
}
