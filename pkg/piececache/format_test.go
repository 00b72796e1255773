package piececache

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

func TestEncodeDecode(t *testing.T) {
	const n = pieces.MinLength
	for _, size := range []int{0, 1, n, n + 1, 3 * n} {
		d, err := pieces.Hash(bytes.NewReader(bytes.Repeat([]byte{7}, size)), n)
		if err != nil {
			t.Fatal(err)
		}
		st := Stamp{Size: int64(size), MtimeNs: 1700000000e9, Dev: 3, Ino: 42}
		b := Encode(st, d)
		got, gd, err := Decode(b)
		if err != nil {
			t.Errorf("size %d: %v", size, err)
			continue
		}
		if got != st || gd.Size != d.Size || !bytes.Equal(gd.Padded, d.Padded) || gd.Tail != d.Tail || gd.PieceLength != n {
			t.Errorf("size %d: round trip gave %+v, %+v", size, got, gd)
		}
		// Every truncation is refused.
		for cut := range len(b) {
			if _, _, err := Decode(b[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("size %d cut at %d: %v, want ErrCorrupt", size, cut, err)
			}
		}
	}
}
