//go:build !linux

package pieces

import (
	"errors"
	"os"
)

// memfd is unsupported here: calibration uses a temporary file.
func memfd() (*os.File, error) { return nil, errors.ErrUnsupported }
