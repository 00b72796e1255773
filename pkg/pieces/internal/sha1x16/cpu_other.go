//go:build !amd64 || purego

package sha1x16

// Available is false: the kernel exists for amd64 only.
var Available = false

func blocks(h *State, p *[Lanes]*byte, n int) { panic("unreachable") }
