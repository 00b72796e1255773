package cachefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/failpoint"
)

// tempPrefix starts the name of a temporary file; no reader opens one.
const tempPrefix = ".tmp-"

// WriteAtomic writes data to name through a temporary file in the same
// folder and a rename, creating the folder when needed. A process killed
// half-way leaves at most a temporary file that no reader ever opens, and
// that RemoveTemps removes. The data is not synced: a machine that
// crashes can leave a short or empty file under name, so readers must
// check what they read (the cache formats carry a checksum).
func WriteAtomic(name string, data []byte) (err error) {
	dir := filepath.Dir(name)
	// The folder usually exists: try first, and create it only when
	// missing, which spares a mkdir per file when many are written.
	fd, tmp, err := createTemp(dir, tempPrefix+filepath.Base(name)+"-")
	if errors.Is(err, fs.ErrNotExist) {
		// Its parent usually exists (the folder of a piece entry is made
		// when the entry is written): one mkdir, not MkdirAll's stats.
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("cache write: %w", err)
			}
		}
		fd, tmp, err = createTemp(dir, tempPrefix+filepath.Base(name)+"-")
	}
	if err != nil {
		return fmt.Errorf("cache write: %w", err)
	}
	closed := false
	defer func() {
		if err != nil {
			// err is what the caller needs; a temporary file that
			// cannot be removed now is never read, and RemoveTemps or gc
			// removes it later.
			if !closed {
				unix.Close(fd)
			}
			os.Remove(tmp)
		}
	}()
	// The write is split in two only where a test stops it half-way.
	first := data
	if failpoint.Enabled() {
		first = data[:len(data)/2]
	}
	if err = writeAll(fd, first); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	failpoint.Hit(failpoint.WriteHalf, name)
	if err = writeAll(fd, data[len(first):]); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	// The file was created 0600 (a reader never sees a temporary file);
	// the entry is readable like any cache file.
	if err = ignoringEINTR(func() error { return unix.Fchmod(fd, 0o644) }); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	closed = true
	if err = unix.Close(fd); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	failpoint.Hit(failpoint.BeforeRename, name)
	// rename(2) itself: os.Rename first stats the target, one call more.
	if err = ignoringEINTR(func() error { return unix.Rename(tmp, name) }); err != nil {
		return fmt.Errorf("cache write %s: %w", name, &os.LinkError{Op: "rename", Old: tmp, New: name, Err: err})
	}
	return nil
}

// createTemp creates a new file dir/prefix{random} for writing, mode
// 0600, and returns its descriptor and name. It calls open(2) itself
// rather than os.CreateTemp, which tries to register every file with the
// runtime's poller, at five system calls a file a regular file refuses.
func createTemp(dir, prefix string) (int, string, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		var fd int
		err := ignoringEINTR(func() (err error) {
			fd, err = unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
			return err
		})
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return -1, "", &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, name, nil
	}
	return -1, "", &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: fs.ErrExist}
}

// writeAll writes b to fd whole.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// ignoringEINTR calls f again while a signal interrupts it.
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// RemoveTemps removes the temporary files that writes of name left
// behind when their process died. It lists name's folder, so it suits
// folders of a few entries. Call it only while no other write of name can
// be under way (while holding name's lock): it would remove that write's
// temporary file, and the write would fail.
func RemoveTemps(name string) (removed int, err error) {
	dir, prefix := filepath.Dir(name), tempPrefix+filepath.Base(name)+"-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cache cleanup: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("cache cleanup: %w", err)
		}
		removed++
	}
	return removed, nil
}
