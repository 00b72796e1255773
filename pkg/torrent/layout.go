// Package torrent lays out and bencodes torrents in the "pkgtorrent"
// layout of the original service: a single-file torrent for one file in
// single mode, otherwise a multi-file torrent whose files are padded to
// piece boundaries so that each file's piece digests can be computed once
// and reused in any combination of files.
package torrent

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/jackpal/bencode-go"

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

type fileEntry struct {
	Attr   string   `bencode:"attr,omitempty"`
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

type multiInfo struct {
	Files       []fileEntry `bencode:"files"`
	Name        string      `bencode:"name"`
	PieceLength int64       `bencode:"piece length"`
	Pieces      string      `bencode:"pieces"`
}

type singleInfo struct {
	Length      int64  `bencode:"length"`
	Name        string `bencode:"name"`
	PieceLength int64  `bencode:"piece length"`
	Pieces      string `bencode:"pieces"`
}

// Single returns the bencoded info dictionary of a single-file torrent:
// {length, name: the base name, piece length, pieces}.
func Single(f File) ([]byte, error) {
	return encode(singleInfo{
		Length:      f.Digests.Size,
		Name:        path.Base(f.Path),
		PieceLength: f.Digests.PieceLength,
		Pieces:      string(f.Digests.Unpadded()),
	})
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
	info := multiInfo{Files: make([]fileEntry, 0, 2*len(files)), PieceLength: files[0].Digests.PieceLength}
	info.Name, _, _ = strings.Cut(files[0].Path, "/")
	var digests []byte
	used := make(map[int64]int)
	for i, f := range files {
		_, rest, _ := strings.Cut(f.Path, "/")
		if f.Digests.PieceLength != info.PieceLength {
			return nil, fmt.Errorf("torrent: %q hashed with piece length %d, want %d", f.Path, f.Digests.PieceLength, info.PieceLength)
		}
		info.Files = append(info.Files, fileEntry{Length: f.Digests.Size, Path: strings.Split(rest, "/")})
		pad := f.Digests.Padding()
		if i == len(files)-1 || pad == 0 {
			digests = append(digests, f.Digests.Unpadded()...)
			continue
		}
		digests = append(digests, f.Digests.Padded...)
		k := used[pad]
		used[pad] = k + 1
		e := fileEntry{Length: pad, Path: []string{service, "nullfile", NullfileName(pad, k)}}
		if format == BEP47 {
			e.Attr = "p"
		}
		info.Files = append(info.Files, e)
	}
	info.Pieces = string(digests)
	return encode(info)
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

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := bencode.Marshal(&b, v); err != nil {
		return nil, fmt.Errorf("torrent: bencode: %w", err)
	}
	return b.Bytes(), nil
}

// InfoHash returns the v1 info hash: the SHA-1 of the bencoded info.
func InfoHash(info []byte) [sha1.Size]byte { return sha1.Sum(info) }
