package piececache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// Stamp identifies one version of a source file. A cached entry is valid
// only while every field still matches: a rewrite, a truncation, a touch or
// a replacement by another file (new inode) all invalidate it.
//
// The ctime is there because the mtime can be set back (rsync --inplace
// -t, touch -r): a file rewritten in place with its mtime restored keeps
// every other field, but any write, and the utime that restores the
// mtime, moves the ctime, which nothing but the kernel's clock sets. A
// change within the ctime's granularity of the stamp can still go unseen:
// see Racy.
type Stamp struct {
	Size    int64
	MtimeNs int64
	CtimeNs int64
	Dev     uint64
	Ino     uint64
}

// StampOf returns the Stamp of a file from its FileInfo.
func StampOf(fi fs.FileInfo) Stamp {
	s := Stamp{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.Dev, s.Ino = uint64(st.Dev), uint64(st.Ino)
		s.CtimeNs = st.Ctim.Nano()
	}
	return s
}

// The layout is in the package documentation (doc.go).
const (
	magic      = "PTPC"
	version    = 3
	flagV2     = 1
	headerSize = cachefile.HeaderSize + 8*6 + pieces.HashSize + 4
	// maxCount bounds what Decode accepts: a 1 TiB file at the smallest
	// piece length.
	maxCount = (1 << 40) / pieces.MinLength
)

// ErrCorrupt reports a cache file that is truncated, damaged, of another
// version or not a piece cache at all. It is never trusted.
var ErrCorrupt = errors.New("corrupt piece cache entry")

// Encode returns the cache file bytes for the digests of a source file.
func Encode(st Stamp, d *pieces.Digests) []byte {
	b := make([]byte, 0, headerSize+len(d.Padded)+len(d.Layer)+pieces.V2Size+4)
	var flags uint16
	if d.V2 {
		flags |= flagV2
	}
	b = cachefile.AppendHeader(b, magic, version, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(d.PieceLength))
	b = binary.BigEndian.AppendUint64(b, uint64(st.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(st.MtimeNs))
	b = binary.BigEndian.AppendUint64(b, uint64(st.CtimeNs))
	b = binary.BigEndian.AppendUint64(b, st.Dev)
	b = binary.BigEndian.AppendUint64(b, st.Ino)
	b = append(b, d.Tail[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(d.NumPieces()))
	b = append(b, d.Padded...)
	if d.V2 {
		b = append(b, d.Root[:]...)
		b = append(b, d.Layer...)
	}
	return cachefile.Seal(b)
}

// Decode parses cache file bytes. It checks everything that can be checked
// without the source file: magic, version, checksum, and that the number of
// digests agrees with the size and piece length. The returned Digests do
// not alias b.
func Decode(b []byte) (Stamp, *pieces.Digests, error) {
	var st Stamp
	flags, body, err := cachefile.Unseal(b, magic, version, flagV2, ErrCorrupt)
	if err != nil {
		return st, nil, err
	}
	if len(body) < headerSize {
		return st, nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(b))
	}
	p := cachefile.HeaderSize
	next := func() uint64 { v := binary.BigEndian.Uint64(body[p:]); p += 8; return v }
	d := &pieces.Digests{PieceLength: int64(next()), V2: flags&flagV2 != 0}
	st.Size = int64(next())
	st.MtimeNs = int64(next())
	st.CtimeNs = int64(next())
	st.Dev = next()
	st.Ino = next()
	d.Size = st.Size
	p += copy(d.Tail[:], body[p:p+pieces.HashSize])
	count := uint64(binary.BigEndian.Uint32(body[p:]))
	p += 4
	if !pieces.ValidLength(d.PieceLength) {
		return st, nil, fmt.Errorf("%w: piece length %d", ErrCorrupt, d.PieceLength)
	}
	if st.Size < 0 {
		return st, nil, fmt.Errorf("%w: size %d", ErrCorrupt, st.Size)
	}
	want := (uint64(st.Size) + uint64(d.PieceLength) - 1) / uint64(d.PieceLength)
	if count != want || count > maxCount {
		return st, nil, fmt.Errorf("%w: %d digests for %d bytes", ErrCorrupt, count, st.Size)
	}
	want = count * pieces.HashSize
	if d.V2 {
		want += pieces.V2Size + count*pieces.V2Size
	}
	if uint64(len(body)-p) != want {
		return st, nil, fmt.Errorf("%w: %d digest bytes, want %d", ErrCorrupt, len(body)-p, want)
	}
	end := p + int(count)*pieces.HashSize
	d.Padded = append([]byte(nil), body[p:end]...)
	if d.V2 {
		p = end + copy(d.Root[:], body[end:])
		d.Layer = append([]byte(nil), body[p:]...)
	}
	return st, d, nil
}
