package sha1x16

import (
	"bytes"
	"crypto/sha1"
	"math/rand/v2"
	"os"
	"testing"
)

func needKernel(t testing.TB) {
	t.Helper()
	if !Available {
		// The development and CI machines have AVX-512: a machine
		// without it must not pass the kernel's tests silently, only
		// skip them when told to.
		if os.Getenv("PKGTORRENT_TEST_NO_AVX512") == "1" {
			t.Skip("this CPU has no AVX-512 (PKGTORRENT_TEST_NO_AVX512=1): the kernel is not tested")
		}
		t.Fatal("this CPU has no AVX-512: the kernel cannot be tested here (PKGTORRENT_TEST_NO_AVX512=1 skips)")
	}
}

// TestBlocksAgainstCryptoSHA1 hashes 16 different random messages of the
// same whole number of blocks, each lane reading from its own buffer, and
// compares every lane with crypto/sha1 over the same bytes.
func TestBlocksAgainstCryptoSHA1(t *testing.T) {
	needKernel(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, nblocks := range []int{1, 2, 3, 15, 16, 17, 64, 255, 1024} {
		var msgs [Lanes][]byte
		var p [Lanes]*byte
		for l := range msgs {
			m := make([]byte, nblocks*BlockSize+BlockSize)
			for i := range m {
				m[i] = byte(rng.Uint32())
			}
			pad := PadBlock(int64(nblocks * BlockSize))
			copy(m[nblocks*BlockSize:], pad[:])
			msgs[l] = m
			p[l] = &m[0]
		}
		var s State
		resetAll(&s)
		Blocks(&s, &p, nblocks+1)
		for l, m := range msgs {
			want := sha1.Sum(m[:nblocks*BlockSize])
			if got := s.Sum(l); got != want {
				t.Fatalf("%d blocks, lane %d: got %x, crypto/sha1 %x", nblocks, l, got, want)
			}
		}
	}
}

// TestBlocksInSteps feeds the lanes in calls of different sizes, with
// lanes moving between buffers (as the piece hasher does: data, then
// zeros, then the padding block) and lanes reset mid-way.
func TestBlocksInSteps(t *testing.T) {
	needKernel(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const total = 40 // blocks per message
	var msgs [Lanes][]byte
	for l := range msgs {
		m := make([]byte, total*BlockSize)
		n := rng.IntN(len(m))
		for i := range n { // random data, then zeros
			m[i] = byte(rng.Uint32())
		}
		msgs[l] = m
	}
	zeros := make([]byte, total*BlockSize)
	pad := PadBlock(total * BlockSize)
	var s State
	resetAll(&s)
	// A first pass over garbage, then every lane is reset: Reset must
	// restore the initial state.
	var p [Lanes]*byte
	for l := range p {
		p[l] = &msgs[(l+1)%Lanes][0]
	}
	Blocks(&s, &p, 3)
	resetAll(&s)
	for off := 0; off < total; {
		step := min(1+rng.IntN(7), total-off)
		for l := range p {
			m := msgs[l][off*BlockSize:]
			if bytes.Equal(m[:step*BlockSize], zeros[:step*BlockSize]) {
				p[l] = &zeros[0] // the same bytes from another buffer
			} else {
				p[l] = &m[0]
			}
		}
		Blocks(&s, &p, step)
		off += step
	}
	for l := range p {
		p[l] = &pad[0]
	}
	Blocks(&s, &p, 1)
	for l, m := range msgs {
		if got, want := s.Sum(l), sha1.Sum(m); got != want {
			t.Fatalf("lane %d: got %x, crypto/sha1 %x", l, got, want)
		}
	}
}

// TestResume checks that a lane's state after some whole blocks, resumed
// in crypto/sha1, finishes messages of any length.
func TestResume(t *testing.T) {
	needKernel(t)
	rng := rand.New(rand.NewPCG(5, 6))
	msg := make([]byte, 10*BlockSize)
	for i := range msg {
		msg[i] = byte(rng.Uint32())
	}
	var p [Lanes]*byte
	for l := range p {
		p[l] = &msg[0]
	}
	var s State
	resetAll(&s)
	Blocks(&s, &p, 4)
	for _, rest := range []int{0, 1, 55, 56, 63, 64, 65, 300} {
		h := sha1.New()
		if err := s.Resume(7, 4*BlockSize, h); err != nil {
			t.Fatal(err)
		}
		h.Write(msg[4*BlockSize : 4*BlockSize+rest])
		if got, want := h.Sum(nil), sha1.Sum(msg[:4*BlockSize+rest]); !bytes.Equal(got, want[:]) {
			t.Fatalf("resumed after 4 blocks, %d more bytes: got %x, want %x", rest, got, want)
		}
	}
	if err := s.Resume(0, 10, sha1.New()); err == nil {
		t.Fatal("Resume after a partial block succeeded")
	}
}

// BenchmarkBlocks hashes 16 lanes of 16 KiB on one core, to compare with
// BenchmarkCryptoSHA1 over the same bytes per lane. Measured on one core
// (cmd/pkgtorrent-bench/README.md, Go benchmarks): 8876 MB/s against
// 2154 MB/s, about 4 times.
func BenchmarkBlocks(b *testing.B) {
	needKernel(b)
	const n = 256 // 16 KiB per lane
	buf := make([]byte, Lanes*n*BlockSize)
	var p [Lanes]*byte
	for l := range p {
		p[l] = &buf[l*n*BlockSize]
	}
	var s State
	resetAll(&s)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		Blocks(&s, &p, n)
	}
}

func BenchmarkCryptoSHA1(b *testing.B) {
	buf := make([]byte, 256*BlockSize)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		sha1.Sum(buf)
	}
}

// resetAll sets every lane of s to the initial SHA-1 state.
func resetAll(s *State) {
	for l := range Lanes {
		s.Reset(l)
	}
}
