// Package cachefile writes cache files so that concurrent readers, in this
// process or another, see either the old content or the new one in full.
package cachefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic writes data to name through a temporary file in the same
// folder and a rename, creating the folder when needed. A process killed
// half-way leaves at most a temporary file that no reader ever opens.
func WriteAtomic(name string, data []byte) (err error) {
	dir := filepath.Dir(name)
	// The folder usually exists: try first, and create it only when
	// missing, which spares a mkdir per file when many are written.
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cache write: %w", err)
		}
		f, err = os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	}
	if err != nil {
		return fmt.Errorf("cache write: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("cache write %s: %w", name, err)
	}
	return nil
}
