//go:build !unix

package pieces

import (
	"errors"
	"os"
)

func mapFile(f *os.File, off, n int64) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmapFile(m []byte) {}

// canMmap is false: files are read with ReadAt.
const canMmap = false
