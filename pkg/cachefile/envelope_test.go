package cachefile

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

var errBad = errors.New("bad entry")

// sealed writes an envelope by hand, independently of AppendHeader and
// Seal: magic, version, flags, fields, CRC-32C of all that.
func sealed(magic string, version, flags uint16, fields string) []byte {
	b := []byte(magic)
	b = append(b, byte(version>>8), byte(version), byte(flags>>8), byte(flags))
	b = append(b, fields...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func TestSealUnseal(t *testing.T) {
	b := Seal(append(AppendHeader(nil, "ABCD", 3, 1), "fields"...))
	if want := sealed("ABCD", 3, 1, "fields"); string(b) != string(want) {
		t.Fatalf("Seal(AppendHeader(...)) = %x, want %x", b, want)
	}
	flags, body, err := Unseal(b, "ABCD", 3, 1, errBad)
	if err != nil || flags != 1 || string(body) != string(b[:len(b)-4]) {
		t.Fatalf("Unseal = %d, %q, %v; want flags 1 and the bytes before the checksum", flags, body, err)
	}
	flipped := sealed("ABCD", 3, 1, "fields")
	flipped[HeaderSize] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header without checksum", []byte("ABCD\x00\x03\x00\x01")},
		{"other magic", sealed("ABCE", 3, 1, "fields")},
		{"other version", sealed("ABCD", 2, 1, "fields")},
		{"unknown flag", sealed("ABCD", 3, 2, "fields")},
		{"a flipped bit", flipped},
	} {
		if _, _, err := Unseal(tc.b, "ABCD", 3, 1, errBad); !errors.Is(err, errBad) {
			t.Errorf("%s: Unseal error = %v, want one wrapping %v", tc.name, err, errBad)
		}
	}
}
