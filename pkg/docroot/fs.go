package docroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// FS returns the root as an fs.FS for http.FileServerFS: it opens regular
// files and folders only, never blocking (a fifo is not found rather than
// hanging the request), follows symlinks that stay inside the root as
// Stat and OpenFile do (so that the web seeds of a torrent built through
// one are served), and reports a symlink out of the root as
// fs.ErrPermission (403) and an over-long name as fs.ErrNotExist (404),
// rather than errors the file server answers with 500.
func (r *Root) FS() fs.FS { return rootFS{r} }

type rootFS struct{ r *Root }

func (f rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	fi, err := f.r.stat(name)
	if err != nil {
		return nil, fsError(name, err)
	}
	if !servable(fi) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	file, err := f.r.open(name, os.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return nil, fsError(name, err)
	}
	if fi, err = file.Stat(); err != nil || !servable(fi) {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}

func servable(fi fs.FileInfo) bool { return fi.Mode().IsRegular() || fi.IsDir() }

// fsError gives an os.Root error the fs sentinel that net/http maps to
// the right status.
func fsError(name string, err error) error {
	err = classify(name, err)
	switch {
	case errors.Is(err, ErrOutside):
		return fmt.Errorf("%w: %w", fs.ErrPermission, err)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalid):
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}
