package torrent

import (
	"crypto/sha256"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// Hybrid torrents (format hybrid) are BitTorrent v1+v2 torrents (BEP 52)
// laid out as libtorrent 2.0's create_torrent lays them out, which is also
// what it accepts:
//
//   - the v2 "file tree" holds each file's length and, unless it is empty,
//     its "pieces root"; "meta version" is 2;
//   - the v1 "files" list follows the order of the file tree: bytewise by
//     path component, whatever order the request gave;
//   - every file that does not end on a piece boundary is followed by a
//     padding entry with attr "p", the last file too (libtorrent pads the
//     tail in hybrid torrents, so every file's last v1 piece is padded),
//     except in a torrent of one file, which libtorrent does not pad;
//   - "piece layers", outside the info, hold the piece layer of every file
//     larger than one piece, keyed by its pieces root.
//
// One choice differs from libtorrent: it names padding entries ".pad/N",
// while these are {service}/nullfile/{pad}_{k} as in format bep47, so that
// a client that ignores attr "p" (aria2) fetches them from the service.
// libtorrent accepts any name for an entry marked attr "p".
//
// A single match in single mode gives a single-file hybrid torrent:
// {file tree: {name: ...}, length, meta version, name, piece length,
// pieces}, with no padding, again as libtorrent makes it.

// HybridInfo returns the bencoded info dictionary of a hybrid torrent of files
// and its bencoded "piece layers" dictionary. single asks for a
// single-file torrent of files[0]. Every file's Digests must hold the v2
// hashes (pieces.HashHybrid).
func HybridInfo(files []File, single bool, service string) (info, layers []byte, err error) {
	if len(files) == 0 {
		return nil, nil, ErrNoFiles
	}
	pl := files[0].Digests.PieceLength
	for _, f := range files {
		if !f.Digests.V2 {
			return nil, nil, fmt.Errorf("torrent: %q has no v2 hashes", f.Path)
		}
		if f.Digests.PieceLength != pl {
			return nil, nil, fmt.Errorf("torrent: %q hashed with piece length %d, want %d", f.Path, f.Digests.PieceLength, pl)
		}
	}
	pieceLayers := dict{}
	addLayer := func(d *pieces.Digests) {
		if d.Size > d.PieceLength {
			pieceLayers[string(d.Root[:])] = d.Layer
		}
	}
	if single {
		f := files[0]
		name := path.Base(f.Path)
		addLayer(f.Digests)
		info := dict{
			"file tree":    dict{name: fileNode(f.Digests)},
			"length":       f.Digests.Size,
			"meta version": 2,
			"name":         name,
			"piece length": pl,
			"pieces":       f.Digests.Unpadded(),
		}
		return appendValue(nil, info), appendValue(nil, pieceLayers), nil
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	if err := CheckFolders(paths); err != nil {
		return nil, nil, err
	}
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return ComparePaths(a.Path, b.Path) })
	name, _, _ := strings.Cut(sorted[0].Path, "/")
	list := raw{'l'} // the v1 files, entries as Multi's
	var digests []byte
	tree := dict{}
	used := make(map[int64]int)
	for _, f := range sorted {
		_, rest, _ := strings.Cut(f.Path, "/")
		parts := strings.Split(rest, "/")
		list = appendFileEntry(list, "", f.Digests.Size, rest)
		node := tree
		for _, p := range parts[:len(parts)-1] {
			sub, ok := node[p].(dict)
			if !ok {
				sub = dict{}
				node[p] = sub
			}
			node = sub
		}
		node[parts[len(parts)-1]] = fileNode(f.Digests)
		addLayer(f.Digests)
		if len(sorted) == 1 {
			digests = f.Digests.Unpadded()
			break
		}
		digests = append(digests, f.Digests.Padded...)
		if pad := f.Digests.Padding(); pad != 0 {
			k := used[pad]
			used[pad] = k + 1
			list = appendFileEntry(list, "p", pad, "", service, "nullfile", NullfileName(pad, k))
		}
	}
	info = appendValue(nil, dict{
		"file tree":    tree,
		"files":        append(list, 'e'),
		"meta version": 2,
		"name":         name,
		"piece length": pl,
		"pieces":       digests,
	})
	return info, appendValue(nil, pieceLayers), nil
}

// fileNode is a file's leaf in the file tree: {"": {length, pieces root}},
// without pieces root for an empty file.
func fileNode(d *pieces.Digests) dict {
	leaf := dict{"length": d.Size}
	if d.Size > 0 {
		leaf["pieces root"] = d.Root[:]
	}
	return dict{"": leaf}
}

// ComparePaths orders slash-separated paths as a v2 file tree does:
// bytewise by path component, so "a/b" comes before "a-b" (where a plain
// bytewise comparison puts "a-b" first, '-' being less than '/').
func ComparePaths(a, b string) int {
	return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
}

// InfoHashV2 returns the v2 info hash: the SHA-256 of the bencoded info.
func InfoHashV2(info []byte) [sha256.Size]byte { return sha256.Sum256(info) }
