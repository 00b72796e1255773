//go:build amd64 && !purego

package sha1x16

import "golang.org/x/sys/cpu"

// Available reports whether the CPU (and the OS, which must save the ZMM
// registers) supports the AVX-512 instructions of the kernel: AVX512F
// for the rotations, ternary logic and shuffles, AVX512BW for the
// byte swap. Tests may clear it to exercise the fallback.
var Available = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

//go:noescape
func blocks(h *State, p *[Lanes]*byte, n int)
