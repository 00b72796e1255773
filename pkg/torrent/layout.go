// Package torrent lays out and bencodes torrents in the "pkgtorrent"
// layout of the original service: a single-file torrent for one file in
// single mode, otherwise a multi-file torrent whose files are padded to
// piece boundaries so that each file's piece digests can be computed once
// and reused in any combination of files.
package torrent

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// Format selects how padding entries are marked.
type Format string

const (
	// Pkgtorrent is byte-for-byte the original service's layout: padding
	// entries are plain files that clients download from the service.
	Pkgtorrent Format = "pkgtorrent"
	// BEP47 adds attr "p" to every padding entry, so that clients that
	// know BEP 47 make the zeros up instead of downloading them.
	BEP47 Format = "bep47"
	// Hybrid is a BitTorrent v1+v2 hybrid torrent (BEP 52): the v1 part is
	// the BEP47 layout over the files in v2 order, padded after every file.
	Hybrid Format = "hybrid"
)

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Pkgtorrent, BEP47, Hybrid:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want %q, %q or %q)", s, Pkgtorrent, BEP47, Hybrid)
}

// Errors of a file list that cannot form one torrent.
var (
	// ErrMixedFolders reports files under different first-level folders:
	// a multi-file torrent has one name, the folder they all share.
	ErrMixedFolders = errors.New("files are under different first-level folders")
	// ErrNoFolder reports a file at the top of the document root, which
	// has no place in a multi-file torrent (its path would be empty).
	ErrNoFolder = errors.New("file is not inside a folder")
	// ErrNoFiles reports an empty file list.
	ErrNoFiles = errors.New("no files")
)

// File is one source file: its clean slash-separated path relative to the
// document root, and its piece digests.
type File struct {
	Path    string
	Digests *pieces.Digests
}

// Single returns the bencoded info dictionary of a single-file torrent:
// {length, name: the base name, piece length, pieces}. It cannot fail.
func Single(f File) ([]byte, error) {
	return appendValue(nil, dict{
		"length":       f.Digests.Size,
		"name":         path.Base(f.Path),
		"piece length": f.Digests.PieceLength,
		"pieces":       f.Digests.Unpadded(),
	}), nil
}

// Multi returns the bencoded info dictionary of a multi-file torrent of
// files, in the order given. Each file that does not end on a piece
// boundary and is not the last one is followed by a padding entry
// {service, "nullfile", "{pad}_{k}"}, k counting the earlier padding
// entries of the same length in this torrent.
func Multi(files []File, service string, format Format) ([]byte, error) {
	if len(files) == 0 {
		return nil, ErrNoFiles
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	if err := CheckFolders(paths); err != nil {
		return nil, err
	}
	// The info dictionary is appended directly, in bencoding's key order
	// (files, name, piece length, pieces; in each file: attr, length,
	// path), not through reflection, whose allocations per value would
	// dominate a new combination of hashed files (BenchmarkMulti). The
	// golden tests check it byte for byte.
	pieceLength := files[0].Digests.PieceLength
	size := 64 + len(service)
	npieces := 0
	for _, f := range files {
		size += 2*len(f.Path) + 96
		npieces += f.Digests.NumPieces()
	}
	b := make([]byte, 0, size+npieces*pieces.HashSize)
	b = append(b, "d5:filesl"...)
	used := make(map[int64]int)
	for i, f := range files {
		if f.Digests.PieceLength != pieceLength {
			return nil, fmt.Errorf("torrent: %q hashed with piece length %d, want %d", f.Path, f.Digests.PieceLength, pieceLength)
		}
		_, rest, _ := strings.Cut(f.Path, "/")
		b = appendFileEntry(b, "", f.Digests.Size, rest)
		pad := f.Digests.Padding()
		if i == len(files)-1 || pad == 0 {
			continue
		}
		k := used[pad]
		used[pad] = k + 1
		attr := ""
		if format == BEP47 {
			attr = "p"
		}
		b = appendFileEntry(b, attr, pad, "", service, "nullfile", NullfileName(pad, k))
	}
	name, _, _ := strings.Cut(files[0].Path, "/")
	b = append(b, "e4:name"...)
	b = appendString(b, name)
	b = append(b, "12:piece lengthi"...)
	b = strconv.AppendInt(b, pieceLength, 10)
	b = append(b, "e6:pieces"...)
	b = strconv.AppendInt(b, int64(npieces*pieces.HashSize), 10)
	b = append(b, ':')
	for i, f := range files {
		if i == len(files)-1 && f.Digests.HasTail() {
			b = append(b, f.Digests.Padded[:len(f.Digests.Padded)-pieces.HashSize]...)
			b = append(b, f.Digests.Tail[:]...)
		} else {
			b = append(b, f.Digests.Padded...)
		}
	}
	return append(b, 'e'), nil
}

// appendFileEntry appends the bencoded entry {attr, length, path} of a
// file list, an empty attr left out. The path is the slash-separated
// segments of rel, if not empty, then segs.
func appendFileEntry(b []byte, attr string, length int64, rel string, segs ...string) []byte {
	b = append(b, 'd')
	if attr != "" {
		b = append(b, "4:attr"...)
		b = appendString(b, attr)
	}
	b = append(b, "6:lengthi"...)
	b = strconv.AppendInt(b, length, 10)
	b = append(b, "e4:pathl"...)
	if rel != "" {
		for seg := range strings.SplitSeq(rel, "/") {
			b = appendString(b, seg)
		}
	}
	for _, seg := range segs {
		b = appendString(b, seg)
	}
	return append(b, "ee"...)
}

// CheckFolders checks that paths (clean, relative to the document root)
// can form one multi-file torrent: every path is inside a folder, and all
// share the first one. It needs no file, so callers check before hashing.
func CheckFolders(paths []string) error {
	var name string
	for i, p := range paths {
		top, _, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("%w: %q", ErrNoFolder, p)
		}
		if i == 0 {
			name = top
		} else if top != name {
			return fmt.Errorf("%w: %q and %q", ErrMixedFolders, name, top)
		}
	}
	return nil
}

// NullfileName is the name of the k-th padding entry of pad bytes.
func NullfileName(pad int64, k int) string {
	return strconv.FormatInt(pad, 10) + "_" + strconv.Itoa(k)
}

// MarkPrivate returns a copy of info, a bencoded info dictionary made by
// Single, Multi or HybridInfo, with "private" set to 1 (BEP 27): clients
// that honour it take the torrent's peers from its trackers only. Keys
// are bencoded in sorted order, and "private" sorts after every key those
// put in an info ("pieces" is the last of them), so it goes last, before
// the dictionary's closing "e". The info hashes change with it.
func MarkPrivate(info []byte) []byte {
	b := make([]byte, 0, len(info)+len("7:privatei1e"))
	b = append(b, info[:len(info)-1]...)
	b = appendString(b, "private")
	b = appendValue(b, 1)
	return append(b, 'e')
}

// InfoHash returns the v1 info hash: the SHA-1 of the bencoded info.
func InfoHash(info []byte) [sha1.Size]byte { return sha1.Sum(info) }
