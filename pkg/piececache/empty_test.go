package piececache

import (
	"bytes"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// TestRoundTripSizes encodes and decodes the entries of files of 0, 1,
// one piece and one piece + 1 bytes. The entry of an empty file was once
// refused as too short, so empty files were hashed on every request.
func TestRoundTripSizes(t *testing.T) {
	const pl = pieces.MinLength
	for _, size := range []int{0, 1, pl, pl + 1} {
		d, err := pieces.Hash(bytes.NewReader(make([]byte, size)), pl)
		if err != nil {
			t.Fatal(err)
		}
		st := Stamp{Size: int64(size), MtimeNs: 1, Dev: 2, Ino: 3}
		b := Encode(st, d)
		if want := headerSize + d.NumPieces()*pieces.HashSize + 4; len(b) != want {
			t.Errorf("size %d: entry of %d bytes, want %d", size, len(b), want)
		}
		got, gd, err := Decode(b)
		if err != nil || got != st || !bytes.Equal(gd.Padded, d.Padded) || gd.Tail != d.Tail {
			t.Errorf("size %d: Decode = %+v, %v; want the encoded entry back", size, got, err)
		}
		s := Store{Dir: t.TempDir()}
		if err := s.Save("yum/x.rpm", st, d); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load("yum/x.rpm", st, pl, false); err != nil {
			t.Errorf("size %d: Load after Save: %v", size, err)
		}
		if _, _, err := Decode(b[:len(b)-1]); err == nil {
			t.Errorf("size %d: a truncated entry decodes", size)
		}
	}
}
