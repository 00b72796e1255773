package inspect

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
)

// ErrCannotVerify reports a torrent without v1 pieces that agree with its
// size: there is nothing to check the files against.
var ErrCannotVerify = errors.New("cannot verify")

// MaxPieceLength is the largest piece length Verify accepts: it holds one
// piece in memory.
const MaxPieceLength = 256 << 20

// ErrBadPieces reports that some pieces do not match the files.
var ErrBadPieces = errors.New("some pieces do not match the files")

// BadPiece is a piece whose bytes on disk do not hash to its digest.
type BadPiece struct {
	// Index is the piece's number, from 0.
	Index int
	// Files are the indexes in Torrent.Files of the non-padding entries
	// it covers.
	Files []int
}

// FileProblem is a file that could not be read whole.
type FileProblem struct {
	// File is the index in Torrent.Files.
	File int
	Err  error
}

// Verification is the outcome of Verify.
type Verification struct {
	Pieces   int
	Bad      []BadPiece
	Problems []FileProblem
}

// Verify recomputes every piece of t from the files under root: a
// multi-file torrent's entries at root/{name}/{path...}, a single-file
// torrent's file at root/{name}, padding entries as zeros. It is what a
// BitTorrent client does with its download folder root. A file missing or
// shorter than the torrent says counts as zeros past its end, so its
// pieces fail. Paths are opened through docroot.Root: none leads outside
// root, and only regular files are opened (a fifo in a file's place does
// not hang it). It returns ErrBadPieces (wrapped) when any piece fails.
func Verify(ctx context.Context, t *Torrent, root string) (Verification, error) {
	v := Verification{Pieces: t.NumPieces()}
	if t.PieceLength > MaxPieceLength {
		return v, fmt.Errorf("%w: piece length %d is over %d", ErrCannotVerify, t.PieceLength, MaxPieceLength)
	}
	if t.Pieces == nil || int64(t.NumPieces()) != t.WantPieces() {
		return v, fmt.Errorf("%w: %d piece digests for %d bytes at piece length %d", ErrCannotVerify, t.NumPieces(), t.Length, t.PieceLength)
	}
	r, err := docroot.Open(root)
	if err != nil {
		return v, fmt.Errorf("verify: %w", err)
	}
	defer r.Close()
	st := stream{t: t, root: r, cur: -1, bad: make(map[int]bool)}
	defer st.close()
	buf := make([]byte, t.PieceLength)
	for i := range v.Pieces {
		if err := ctx.Err(); err != nil {
			return v, fmt.Errorf("verify: %w", err)
		}
		n := min(t.PieceLength, t.Length-int64(i)*t.PieceLength)
		files := st.fill(buf[:n], int64(i)*t.PieceLength)
		sum := sha1.Sum(buf[:n])
		if !bytes.Equal(sum[:], t.Pieces[i*sha1.Size:(i+1)*sha1.Size]) {
			v.Bad = append(v.Bad, BadPiece{Index: i, Files: files})
		}
	}
	v.Problems = st.problems
	if len(v.Bad) > 0 {
		return v, fmt.Errorf("verify: %d of %d pieces: %w", len(v.Bad), v.Pieces, ErrBadPieces)
	}
	return v, nil
}

// stream reads the concatenation of a torrent's entries.
type stream struct {
	t        *Torrent
	root     *docroot.Root
	cur      int      // index of the open file, or -1
	f        *os.File // nil when the current file cannot be read
	bad      map[int]bool
	problems []FileProblem
}

func (s *stream) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// fill reads the len(b) bytes at offset off of the concatenation into b
// and returns the non-padding files they come from.
func (s *stream) fill(b []byte, off int64) []int {
	var files []int
	for len(b) > 0 {
		i := s.fileAt(off)
		f := s.t.Files[i]
		n := min(int64(len(b)), f.Offset+f.Length-off)
		chunk := b[:n]
		if f.Padding {
			clear(chunk)
		} else {
			files = append(files, i)
			s.read(i, chunk, off-f.Offset)
		}
		b, off = b[n:], off+n
	}
	return files
}

// fileAt returns the index of the entry that holds byte off (entries of
// length 0 hold none).
func (s *stream) fileAt(off int64) int {
	lo := max(s.cur, 0)
	if lo < len(s.t.Files) && off < s.t.Files[lo].Offset {
		lo = 0
	}
	for i := lo; i < len(s.t.Files); i++ {
		f := s.t.Files[i]
		if off >= f.Offset && off < f.Offset+f.Length {
			return i
		}
	}
	panic("inspect: offset past the end of the files")
}

// read reads b at offset off of file i, zeros where it cannot.
func (s *stream) read(i int, b []byte, off int64) {
	if s.cur != i {
		s.close()
		s.cur, s.f = i, nil
		f, err := s.open(s.t.Files[i])
		if err != nil {
			s.problem(i, err)
		} else {
			s.f = f
		}
	}
	if s.f == nil {
		clear(b)
		return
	}
	n, err := s.f.ReadAt(b, off)
	if n < len(b) {
		clear(b[n:])
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("shorter than the torrent's %d bytes", s.t.Files[i].Length)
		}
		s.problem(i, err)
	}
}

func (s *stream) problem(i int, err error) {
	if !s.bad[i] {
		s.bad[i] = true
		s.problems = append(s.problems, FileProblem{File: i, Err: err})
	}
}

// open opens entry f under the root: name/path... (name for a single-file
// torrent), refusing components that are empty, "." or "..", or hold a
// slash, whatever the root would make of them.
func (s *stream) open(f File) (*os.File, error) {
	parts := []string{s.t.Name}
	if !s.t.Single {
		parts = append(parts, f.Path...)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\\\x00") {
			return nil, fmt.Errorf("unsafe path component %q", p)
		}
	}
	fh, _, err := s.root.OpenFile(strings.Join(parts, "/"))
	return fh, err
}

// Print writes the outcome: each file problem, each bad piece with the
// files it covers, then one summary line.
func (v Verification) Print(w io.Writer, t *Torrent) {
	name := func(i int) string { return strings.Join(t.Files[i].Path, "/") }
	for _, p := range v.Problems {
		fmt.Fprintf(w, "verify: %s: %v\n", name(p.File), p.Err)
	}
	failed := make(map[int]int)
	var order []int
	for _, b := range v.Bad {
		var names []string
		for _, i := range b.Files {
			names = append(names, name(i))
			if failed[i] == 0 {
				order = append(order, i)
			}
			failed[i]++
		}
		fmt.Fprintf(w, "verify: piece %d does not match (%s)\n", b.Index, strings.Join(names, ", "))
	}
	if len(v.Bad) == 0 {
		fmt.Fprintf(w, "verify: all %d pieces match\n", v.Pieces)
		return
	}
	var names []string
	for _, i := range order {
		names = append(names, fmt.Sprintf("%s (%d)", name(i), failed[i]))
	}
	fmt.Fprintf(w, "verify: %d of %d pieces do not match; files with bad pieces: %s\n", len(v.Bad), v.Pieces, strings.Join(names, ", "))
}
