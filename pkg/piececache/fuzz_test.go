package piececache

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics on untrusted cache files, that
// it fails only with ErrCorrupt, and that whatever it accepts is canonical:
// it encodes back to the very same bytes.
func FuzzDecode(f *testing.F) {
	for _, size := range []int64{0, 1, 16 << 10, 40 << 10} {
		_, _, b := validEntry(size, 16<<10)
		f.Add(b)
	}
	st, d, _ := validEntry(40<<10, 16<<10)
	f.Add(refEncode(st, d, 3, 0, 2))
	f.Add(refEncode(st, d, 2, 0, 2))
	f.Add(refEncode(st, d, 1, 0, 3))
	f.Add([]byte("PTPC"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, d, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode error = %v, want one wrapping %v", err, ErrCorrupt)
			}
			if d != nil {
				t.Fatalf("Decode returned digests %+v with error %v", d, err)
			}
			return
		}
		if d.Size != st.Size {
			t.Errorf("digests size = %d, stamp size = %d, want them equal", d.Size, st.Size)
		}
		if want := (d.Size + d.PieceLength - 1) / d.PieceLength; int64(d.NumPieces()) != want {
			t.Errorf("NumPieces() = %d, want %d for %d bytes", d.NumPieces(), want, d.Size)
		}
		if again := Encode(st, d); !bytes.Equal(again, b) {
			t.Errorf("Encode(Decode(b)) = %x, want b = %x", again, b)
		}
	})
}
