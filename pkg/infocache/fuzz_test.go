package infocache

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics on untrusted entries, fails
// only with ErrCorrupt, and that whatever it accepts is canonical: it
// encodes back to the very same bytes.
func FuzzDecode(f *testing.F) {
	for _, e := range sampleEntries() {
		f.Add(Encode(e))
	}
	f.Add(refEncode(sampleEntries()["single"], 3, 2))
	f.Add([]byte("PTIC\x00\x01\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode error = %v, want one wrapping %v", err, ErrCorrupt)
			}
			if e != nil {
				t.Fatalf("Decode returned %+v with error %v", e, err)
			}
			return
		}
		if len(e.Paths) != len(e.Stamps) {
			t.Fatalf("Decode gave %d paths and %d stamps, want as many", len(e.Paths), len(e.Stamps))
		}
		if again := Encode(e); !bytes.Equal(again, b) {
			t.Errorf("Encode(Decode(b)) = %x, want b = %x", again, b)
		}
	})
}
