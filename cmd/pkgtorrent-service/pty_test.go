package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal with the standard library only, as
// posix_openpt, grantpt and unlockpt do on Linux: /dev/ptmx gives the
// master; TIOCSPTLCK unlocks the slave and TIOCGPTN names it
// (/dev/pts/N; devpts sets its owner and mode itself, so grantpt has
// nothing to do). The terminal is cols columns wide.
func openPTY(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("posix_openpt: %v", err)
	}
	ioctl := func(req uintptr, arg unsafe.Pointer) error {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), req, uintptr(arg)); errno != 0 {
			return errno
		}
		return nil
	}
	var unlock int32
	if err := ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		m.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	var n uint32
	if err := ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		m.Close()
		t.Fatalf("ptsname: %v", err)
	}
	ws := struct{ Row, Col, X, Y uint16 }{Row: 24, Col: cols}
	if err := ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		m.Close()
		t.Fatalf("TIOCSWINSZ: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// ptyReader collects what a program writes to the terminal, until every
// slave descriptor is closed (Linux then reads EIO on the master).
type ptyReader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // signalled after each read
	done chan struct{}
}

func readPTY(master *os.File) *ptyReader {
	r := &ptyReader{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
			if err != nil {
				if !errors.Is(err, syscall.EIO) && !errors.Is(err, os.ErrClosed) {
					r.mu.Lock()
					fmt.Fprintf(&r.buf, "\n[read error: %v]", err)
					r.mu.Unlock()
				}
				return
			}
		}
	}()
	return r
}

func (r *ptyReader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}
