package piececache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// ErrChanged reports a file that kept changing while it was hashed.
var ErrChanged = errors.New("file changed while it was being hashed")

// HashOptions tune HashFile.
type HashOptions struct {
	// PieceLength is the piece length to hash with.
	PieceLength int64
	// V2 asks for the v2 piece layer too (hybrid torrents), computed in
	// the same read.
	V2 bool
	// Workers is how many goroutines hash the file's pieces when they
	// are not hashed in the lane engine, which serves v1 digests on
	// AVX-512 CPUs and ignores it (see pieces.HashAt).
	Workers int
	// Wrap, when not nil, wraps the file's reader (progress counting,
	// failpoints, cancellation).
	Wrap func(io.ReaderAt) io.ReaderAt
	// Hashed, when not nil, is called after each complete read of the
	// file, whether or not its stamp then turns out to have changed.
	Hashed func(*pieces.Digests)
	// Changed, when not nil, is called when the file changed while it
	// was hashed, with its old and new stamps.
	Changed func(old, now Stamp)
	// Racy, when not nil, is called when the digests returned are of a
	// file version that was racy when its hashing started (see
	// Stamp.Racy): they must not be cached.
	Racy func()
}

// HashFile hashes the open regular file f, whose stamp was st when it was
// opened, and returns its digests with the stamp they belong to. A file
// whose stamp changes while it is hashed (or that shrinks under it) is
// hashed once more; if it changes again, HashFile gives up with
// ErrChanged, so that digests mixing two versions of a file are never
// returned. A file written within its timestamp granularity of now is
// first waited for (settle), so that a write during the hashing shows in
// its stamp; digests of a version that is still racy then are reported to
// opt.Racy. It is the one hashing step of the service and of warm.
func HashFile(f *os.File, st Stamp, opt HashOptions) (*pieces.Digests, Stamp, error) {
	var r io.ReaderAt = f
	if opt.Wrap != nil {
		r = opt.Wrap(f)
	}
	for range 2 {
		var err error
		if st, err = settle(f, st); err != nil {
			return nil, st, fmt.Errorf("%s: %w", f.Name(), err)
		}
		start := time.Now()
		d, herr := pieces.HashAt(r, st.Size, opt.PieceLength, opt.V2, opt.Workers)
		if herr != nil && !errors.Is(herr, io.ErrUnexpectedEOF) {
			return nil, st, fmt.Errorf("%s: %w", f.Name(), herr)
		}
		if herr == nil && opt.Hashed != nil {
			opt.Hashed(d)
		}
		fi, err := f.Stat()
		if err != nil {
			return nil, st, fmt.Errorf("%s: %w", f.Name(), err)
		}
		now := StampOf(fi)
		if herr == nil && now == st {
			if opt.Racy != nil && st.Racy(start) {
				opt.Racy()
			}
			return d, st, nil
		}
		if opt.Changed != nil {
			opt.Changed(st, now)
		}
		st = now
	}
	return nil, st, fmt.Errorf("%w: %s", ErrChanged, f.Name())
}
