package cachefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(name)+"-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cache write: %w", err)
		}
		f, err = os.CreateTemp(dir, tempPrefix+filepath.Base(name)+"-*")
	}
	if err != nil {
		return fmt.Errorf("cache write: %w", err)
	}
	defer func() {
		if err != nil {
			// err is what the caller needs; a temporary file that
			// cannot be removed now is never read, and RemoveTemps or gc
			// removes it later.
			f.Close()
			os.Remove(f.Name())
		}
	}()
	half := len(data) / 2
	if _, err = f.Write(data[:half]); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	failpoint.Hit(failpoint.WriteHalf, name)
	if _, err = f.Write(data[half:]); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	failpoint.Hit(failpoint.BeforeRename, name)
	if err = os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	return nil
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
