// Package inspect reads a .torrent file (from disk or an http(s) URL),
// tells what it holds, and checks its pieces against files on disk.
//
// A torrent is untrusted input: its structure is checked by a bounded
// scanner (nesting depth, lengths) before bencode-go decodes it, and the
// paths it names are opened through docroot.Root, so none leads outside the
// folder being verified.
package inspect

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackpal/bencode-go"
)

// ErrMalformed reports bytes that are not a well-formed torrent.
var ErrMalformed = errors.New("not a well-formed torrent")

// File is one entry of a torrent's file list.
type File struct {
	// Path is the entry's path components below the torrent's name; a
	// single-file torrent's one file has Path [name].
	Path []string
	// Length is the entry's size in bytes; Offset its start in the
	// concatenation of all entries that the pieces cover.
	Length, Offset int64
	// Padding reports a padding entry: zeros that only align the next
	// file to a piece boundary (BEP 47 attr "p", or the pkgtorrent
	// layout's {service}/nullfile/{size}_{k}). PaddingKind says which.
	Padding     bool
	PaddingKind string
}

// Torrent is what a .torrent file holds.
type Torrent struct {
	// Name is the info dictionary's name: the file's name in a
	// single-file torrent, the top folder in a multi-file one.
	Name string
	// Single reports a single-file torrent.
	Single bool
	// InfoHash is the v1 info hash: SHA-1 of the bencoded info.
	InfoHash [sha1.Size]byte
	// InfoHashV2, for a v2 or hybrid torrent (meta version 2), is the
	// SHA-256 of the bencoded info.
	InfoHashV2 *[sha256.Size]byte
	// PieceLength is the piece length in bytes.
	PieceLength int64
	// Pieces holds the v1 piece digests, 20 bytes each.
	Pieces []byte
	// Files are the entries in order, padding included; Length is their
	// total size.
	Files  []File
	Length int64
	// Trackers are the announce URLs by tier (announce-list), or the one
	// announce URL.
	Trackers [][]string
	// WebSeeds are the url-list URLs (BEP 19).
	WebSeeds []string
	// Private reports the private flag (BEP 27).
	Private bool
	// Comment, CreatedBy and Created are the optional descriptive fields.
	Comment, CreatedBy string
	Created            time.Time
}

// NumPieces is the number of v1 piece digests.
func (t *Torrent) NumPieces() int { return len(t.Pieces) / sha1.Size }

// WantPieces is the number of pieces the entries' total size needs.
func (t *Torrent) WantPieces() int64 {
	if t.PieceLength <= 0 {
		return 0
	}
	return (t.Length + t.PieceLength - 1) / t.PieceLength
}

// nullfile matches the last path component of a pkgtorrent padding entry.
var nullfile = regexp.MustCompile(`^([0-9]+)_[0-9]+$`)

// Parse decodes a .torrent file.
func Parse(b []byte) (*Torrent, error) {
	info, err := rawInfo(b)
	if err != nil {
		return nil, err
	}
	v, err := bencode.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a dictionary", ErrMalformed)
	}
	id, ok := top["info"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: no info dictionary", ErrMalformed)
	}
	t := &Torrent{InfoHash: sha1.Sum(info)}
	if mv, _ := id["meta version"].(int64); mv == 2 {
		h := sha256.Sum256(info)
		t.InfoHashV2 = &h
	}
	t.Name, _ = id["name"].(string)
	t.PieceLength, _ = id["piece length"].(int64)
	if t.PieceLength <= 0 {
		return nil, fmt.Errorf("%w: piece length %d", ErrMalformed, t.PieceLength)
	}
	pieces, _ := id["pieces"].(string)
	if len(pieces)%sha1.Size != 0 {
		return nil, fmt.Errorf("%w: pieces of %d bytes, not a multiple of 20", ErrMalformed, len(pieces))
	}
	t.Pieces = []byte(pieces)
	if p, _ := id["private"].(int64); p == 1 {
		t.Private = true
	}
	switch {
	case id["files"] != nil:
		list, ok := id["files"].([]any)
		if !ok {
			return nil, fmt.Errorf("%w: files is not a list", ErrMalformed)
		}
		for i, x := range list {
			fe, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: file %d is not a dictionary", ErrMalformed, i)
			}
			f, err := parseFile(fe)
			if err != nil {
				return nil, fmt.Errorf("%w: file %d: %w", ErrMalformed, i, err)
			}
			if err := t.add(f); err != nil {
				return nil, err
			}
		}
	case id["length"] != nil:
		n, ok := id["length"].(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%w: length is not a size", ErrMalformed)
		}
		t.Single = true
		if err := t.add(File{Path: []string{t.Name}, Length: n}); err != nil {
			return nil, err
		}
	case id["file tree"] != nil:
		// A v2-only torrent: its files are listed, without v1 pieces.
		tree, _ := id["file tree"].(map[string]any)
		if err := t.addTree(nil, tree, 0); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: info has neither files nor length", ErrMalformed)
	}
	t.Trackers = trackers(top)
	switch ws := top["url-list"].(type) {
	case string:
		t.WebSeeds = []string{ws}
	case []any:
		for _, u := range ws {
			if s, ok := u.(string); ok {
				t.WebSeeds = append(t.WebSeeds, s)
			}
		}
	}
	t.Comment, _ = top["comment"].(string)
	t.CreatedBy, _ = top["created by"].(string)
	if c, ok := top["creation date"].(int64); ok {
		t.Created = time.Unix(c, 0).UTC()
	}
	return t, nil
}

// maxLength bounds a torrent's total size (a petabyte), so that sums and
// piece counts cannot overflow.
const maxLength = 1 << 50

func (t *Torrent) add(f File) error {
	if f.Length > maxLength-t.Length {
		return fmt.Errorf("%w: more than %d bytes in all", ErrMalformed, int64(maxLength))
	}
	f.Offset = t.Length
	t.Length += f.Length
	t.Files = append(t.Files, f)
	return nil
}

func parseFile(fe map[string]any) (File, error) {
	var f File
	n, ok := fe["length"].(int64)
	if !ok || n < 0 {
		return f, errors.New("length is not a size")
	}
	f.Length = n
	parts, ok := fe["path"].([]any)
	if !ok || len(parts) == 0 {
		return f, errors.New("no path")
	}
	for _, p := range parts {
		s, ok := p.(string)
		if !ok {
			return f, errors.New("a path component is not a string")
		}
		f.Path = append(f.Path, s)
	}
	if attr, _ := fe["attr"].(string); strings.Contains(attr, "p") {
		f.Padding, f.PaddingKind = true, "BEP 47"
	} else if len(f.Path) == 3 && f.Path[1] == "nullfile" {
		if m := nullfile.FindStringSubmatch(f.Path[2]); m != nil && m[1] == strconv.FormatInt(n, 10) {
			f.Padding, f.PaddingKind = true, "nullfile"
		}
	}
	return f, nil
}

// addTree lists the files of a v2 file tree, in its (sorted) order.
func (t *Torrent) addTree(dir []string, tree map[string]any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: file tree too deep", ErrMalformed)
	}
	names := make([]string, 0, len(tree))
	for k := range tree {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		node, _ := tree[name].(map[string]any)
		if leaf, ok := node[""].(map[string]any); ok {
			n, _ := leaf["length"].(int64)
			if n < 0 {
				return fmt.Errorf("%w: file %q: length %d", ErrMalformed, name, n)
			}
			if err := t.add(File{Path: append(slices.Clone(dir), name), Length: n}); err != nil {
				return err
			}
			continue
		}
		if err := t.addTree(append(slices.Clone(dir), name), node, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// trackers returns announce-list, or announce as one tier.
func trackers(top map[string]any) [][]string {
	var tiers [][]string
	if al, ok := top["announce-list"].([]any); ok {
		for _, tier := range al {
			urls, _ := tier.([]any)
			var t []string
			for _, u := range urls {
				if s, ok := u.(string); ok {
					t = append(t, s)
				}
			}
			if len(t) > 0 {
				tiers = append(tiers, t)
			}
		}
	}
	if len(tiers) == 0 {
		if a, ok := top["announce"].(string); ok && a != "" {
			tiers = [][]string{{a}}
		}
	}
	return tiers
}
