//go:build unix

package pieces

import (
	"os"
	"syscall"
)

// mapFile maps n bytes of f from offset off (a multiple of the page
// size) for reading.
func mapFile(f *os.File, off, n int64) ([]byte, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var m []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		m, merr = syscall.Mmap(int(fd), off, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	return m, merr
}

func unmapFile(m []byte) { syscall.Munmap(m) }

// canMmap reports whether files can be mapped here.
const canMmap = true
