package pieces

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/iotest"
)

// refPieces computes the expected digests of data independently of Hash:
// every piece is SHA-1 over its bytes, the last one extended with zeros to a
// full piece (padded) or left bare (tail).
func refPieces(data []byte, pl int) (padded []byte, tail [sha1.Size]byte, hasTail bool) {
	for off := 0; off < len(data); off += pl {
		end := min(off+pl, len(data))
		piece := make([]byte, pl)
		copy(piece, data[off:end])
		sum := sha1.Sum(piece)
		padded = append(padded, sum[:]...)
		if end-off < pl {
			tail = sha1.Sum(data[off:end])
			hasTail = true
		}
	}
	return padded, tail, hasTail
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestValidLength(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want bool
	}{
		{"zero", 0, false},
		{"negative", -(16 << 10), false},
		{"one", 1, false},
		{"8 KiB power of two below minimum", 8 << 10, false},
		{"16 KiB minus one", 16<<10 - 1, false},
		{"16 KiB minimum", 16 << 10, true},
		{"32 KiB", 32 << 10, true},
		{"48 KiB not a power of two", 48 << 10, false},
		{"1 MiB", 1 << 20, true},
		{"1 MiB plus one", 1<<20 + 1, false},
		{"64 MiB maximum", 64 << 20, true},
		{"128 MiB above maximum", 128 << 20, false},
		{"min int64", -1 << 63, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidLength(tt.n); got != tt.want {
				t.Errorf("ValidLength(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	const kib = 1 << 10
	tests := []struct {
		name    string
		size    int
		pl      int64
		pieces  int
		padding int64
	}{
		{"empty", 0, 16 * kib, 0, 0},
		{"one byte", 1, 16 * kib, 1, 16*kib - 1},
		{"piece minus one", 16*kib - 1, 16 * kib, 1, 1},
		{"exactly one piece", 16 * kib, 16 * kib, 1, 0},
		{"one piece plus one", 16*kib + 1, 16 * kib, 2, 16*kib - 1},
		{"three pieces", 48 * kib, 16 * kib, 3, 0},
		{"three pieces and a tail", 48*kib + 17, 16 * kib, 4, 16*kib - 17},
		{"larger piece length", 100 * kib, 32 * kib, 4, 28 * kib},
		{"smaller than a 1 MiB piece", 700000, 1 << 20, 1, 1<<20 - 700000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randomBytes(uint64(tt.size)+uint64(tt.pl), tt.size)
			wantPadded, wantTail, wantHasTail := refPieces(data, int(tt.pl))
			d, err := Hash(bytes.NewReader(data), tt.pl)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if d.PieceLength != tt.pl {
				t.Errorf("PieceLength = %d, want %d", d.PieceLength, tt.pl)
			}
			if d.Size != int64(tt.size) {
				t.Errorf("Size = %d, want %d", d.Size, tt.size)
			}
			if d.NumPieces() != tt.pieces {
				t.Errorf("NumPieces() = %d, want %d", d.NumPieces(), tt.pieces)
			}
			if !bytes.Equal(d.Padded, wantPadded) {
				t.Errorf("Padded = %x, want %x", d.Padded, wantPadded)
			}
			if d.HasTail() != wantHasTail {
				t.Errorf("HasTail() = %v, want %v", d.HasTail(), wantHasTail)
			}
			if d.Padding() != tt.padding {
				t.Errorf("Padding() = %d, want %d", d.Padding(), tt.padding)
			}
			if (d.Size+d.Padding())%tt.pl != 0 {
				t.Errorf("Size+Padding() = %d, want a multiple of %d", d.Size+d.Padding(), tt.pl)
			}
			wantUnpadded := bytes.Clone(wantPadded)
			if wantHasTail {
				if d.Tail != wantTail {
					t.Errorf("Tail = %x, want %x", d.Tail, wantTail)
				}
				copy(wantUnpadded[len(wantUnpadded)-sha1.Size:], wantTail[:])
			}
			before := bytes.Clone(d.Padded)
			if got := d.Unpadded(); !bytes.Equal(got, wantUnpadded) {
				t.Errorf("Unpadded() = %x, want %x", got, wantUnpadded)
			}
			if !bytes.Equal(d.Padded, before) {
				t.Errorf("Unpadded() modified Padded: now %x, was %x", d.Padded, before)
			}
		})
	}
}

// TestHashZeroTailDiffers guards the difference between the padded and
// bare last piece: for a tail of zeros, they must still differ.
func TestHashZeroTailDiffers(t *testing.T) {
	data := make([]byte, 16<<10+5)
	d, err := Hash(bytes.NewReader(data), 16<<10)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	bare := sha1.Sum(make([]byte, 5))
	full := sha1.Sum(make([]byte, 16<<10))
	if d.Tail != bare {
		t.Errorf("Tail = %x, want SHA-1 of 5 zero bytes %x", d.Tail, bare)
	}
	if got := d.Padded[sha1.Size:]; !bytes.Equal(got, full[:]) {
		t.Errorf("last padded digest = %x, want SHA-1 of a zero piece %x", got, full)
	}
}

// TestHashReaders feeds the same bytes through readers that return short
// reads, data with io.EOF, and one byte at a time: the digests must not
// depend on how the reader splits its data.
func TestHashReaders(t *testing.T) {
	const pl = 16 << 10
	data := randomBytes(7, 3*pl+1234)
	want, wantTail, _ := refPieces(data, pl)
	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"bytes.Reader", func() io.Reader { return bytes.NewReader(data) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }},
	}
	for _, tt := range readers {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Hash(tt.r(), pl)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if d.Size != int64(len(data)) {
				t.Errorf("Size = %d, want %d", d.Size, len(data))
			}
			if !bytes.Equal(d.Padded, want) {
				t.Errorf("Padded = %x, want %x", d.Padded, want)
			}
			if d.Tail != wantTail {
				t.Errorf("Tail = %x, want %x", d.Tail, wantTail)
			}
		})
	}
}

func TestHashReadError(t *testing.T) {
	const pl = 16 << 10
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"error at once", iotest.ErrReader(errBoom)},
		{"error after a piece and a half", io.MultiReader(bytes.NewReader(make([]byte, pl+pl/2)), iotest.ErrReader(errBoom))},
		{"error after exactly one piece", io.MultiReader(bytes.NewReader(make([]byte, pl)), iotest.ErrReader(errBoom))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Hash(tt.r, pl)
			if !errors.Is(err, errBoom) {
				t.Errorf("Hash error = %v, want one wrapping %v", err, errBoom)
			}
			if d != nil {
				t.Errorf("Hash digests = %+v, want nil on error", d)
			}
		})
	}
}

func TestHashBadPieceLength(t *testing.T) {
	for _, pl := range []int64{0, -1, 1000, 16<<10 + 1, 128 << 20} {
		d, err := Hash(bytes.NewReader([]byte("x")), pl)
		if !errors.Is(err, ErrPieceLength) {
			t.Errorf("Hash(piece length %d) error = %v, want %v", pl, err, ErrPieceLength)
		}
		if d != nil {
			t.Errorf("Hash(piece length %d) digests = %+v, want nil", pl, d)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	const size = 64 << 20
	data := randomBytes(1, size)
	for _, pl := range []int64{256 << 10, 1 << 20, 4 << 20} {
		b.Run(byteCount(pl), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Hash(bytes.NewReader(data), pl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteCount(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n>>10, 10) + "KiB"
}
