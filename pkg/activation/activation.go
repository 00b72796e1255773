// Package activation takes the listening sockets that systemd passes to
// a socket-activated service (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES, descriptors from 3 on).
//
// Socket activation keeps a port its service's while the service is
// down: systemd holds the socket across restarts and upgrades, so no
// other local user can bind the address in between. Both programs of the
// project take their sockets this way when started by a .socket unit.
package activation

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// firstFD is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const firstFD = 3

// maxFDs bounds the descriptors taken: far above what a unit passes.
const maxFDs = 64

// ErrNotActivated reports that the process was not given sockets:
// LISTEN_FDS is unset.
var ErrNotActivated = errors.New("no sockets passed by systemd (LISTEN_FDS is not set)")

// Listener is one socket passed, with its name (the unit's
// FileDescriptorName=, or "unknown").
type Listener struct {
	net.Listener
	Name string
}

// Listeners returns the listening sockets passed to this process, in
// order. It unsets the variables, so that children do not take them too.
// It fails with ErrNotActivated when none were passed, and with another
// error when the variables are set for another process or malformed, or
// a descriptor is not a listening socket.
func Listeners() ([]Listener, error) {
	fds, ok := os.LookupEnv("LISTEN_FDS")
	if !ok {
		return nil, ErrNotActivated
	}
	pid := os.Getenv("LISTEN_PID")
	names := os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return nil, fmt.Errorf("LISTEN_FDS is set but LISTEN_PID %q is not this process", pid)
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 || n > maxFDs {
		return nil, fmt.Errorf("LISTEN_FDS %q: want 1 to %d sockets", fds, maxFDs)
	}
	nameOf := strings.Split(names, ":")
	var ls []Listener
	for i := range n {
		name := "unknown"
		if i < len(nameOf) && nameOf[i] != "" {
			name = nameOf[i]
		}
		f := os.NewFile(uintptr(firstFD+i), name)
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("socket %d (%s) from systemd: %w", firstFD+i, name, err)
		}
		ls = append(ls, Listener{l, name})
	}
	return ls, nil
}
