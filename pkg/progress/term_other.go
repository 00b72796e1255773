//go:build !linux

package progress

import "os"

// IsTerminal reports whether f is a character device, the nearest test
// to a terminal without the TCGETS ioctl.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Width returns 80: other systems are not sized.
func Width(*os.File) int { return 80 }
