package main

// Helpers of the end-to-end tests (e2e_*_test.go) over pkg/e2e's harness:
// the sample mirror, file comparisons and a tiny bencode reader.

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// firstLine returns the first line of b, trimmed.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// e2eMirror writes the sample mirror into a new temporary folder that the
// web servers can read, and returns its path.
func e2eMirror(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mirror")
	if err := samplemirror.Create(dir); err != nil {
		t.Fatal(err)
	}
	e2e.Share(t, dir)
	return dir
}

// e2eMirrorFile returns the size of a sample mirror file.
func e2eMirrorFile(t *testing.T, rel string) int64 {
	t.Helper()
	for _, f := range samplemirror.Files {
		if f.Path == rel {
			return f.Size
		}
	}
	t.Fatalf("%s is not a sample mirror file", rel)
	return 0
}

// e2eSameFile fails the test unless the file at got has the bytes of the
// sample mirror file rel.
func e2eSameFile(t *testing.T, who, got, rel string) {
	t.Helper()
	want := samplemirror.Content(rel, e2eMirrorFile(t, rel))
	b, err := os.ReadFile(got)
	if err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	if !bytes.Equal(b, want) {
		i := 0
		for i < min(len(b), len(want)) && b[i] == want[i] {
			i++
		}
		t.Errorf("%s: %s differs from the original %s: %d bytes, want %d; first difference at byte %d", who, got, rel, len(b), len(want), i)
	}
}

// e2eReadJSON decodes a JSON file into v.
func e2eReadJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// e2eTorrent is a .torrent file as the tests read it.
type e2eTorrent struct {
	raw         []byte
	infoHash    string // hex SHA-1 of the bencoded info, as it appears in the file
	name        string
	pieceLength int64
	length      int64 // single-file torrents
	files       []e2eTorrentFile
	urlList     []string
	announce    []string // announce-list, one per tier
}

type e2eTorrentFile struct {
	path   string // joined with "/", without the torrent's name
	length int64
	attr   string
}

// multi reports whether the torrent lists files.
func (tt *e2eTorrent) multi() bool { return tt.files != nil }

// e2eParseTorrent reads a .torrent file.
func e2eParseTorrent(b []byte) (*e2eTorrent, error) {
	d := &bdecoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.pos != len(b) {
		return nil, fmt.Errorf("bencode: %d bytes after the end", len(b)-d.pos)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("torrent is not a dictionary")
	}
	info, ok := top["info"].(map[string]any)
	if !ok || d.info == nil {
		return nil, errors.New("torrent has no info dictionary")
	}
	sum := sha1.Sum(d.info)
	tt := &e2eTorrent{raw: b, infoHash: hex.EncodeToString(sum[:])}
	tt.name, _ = info["name"].(string)
	tt.pieceLength, _ = info["piece length"].(int64)
	tt.length, _ = info["length"].(int64)
	if files, ok := info["files"].([]any); ok {
		tt.files = []e2eTorrentFile{}
		for _, f := range files {
			fd, _ := f.(map[string]any)
			var segs []string
			for _, s := range asList(fd["path"]) {
				seg, _ := s.(string)
				segs = append(segs, seg)
			}
			length, _ := fd["length"].(int64)
			attr, _ := fd["attr"].(string)
			tt.files = append(tt.files, e2eTorrentFile{strings.Join(segs, "/"), length, attr})
		}
	}
	for _, u := range asList(top["url-list"]) {
		s, _ := u.(string)
		tt.urlList = append(tt.urlList, s)
	}
	if s, ok := top["url-list"].(string); ok {
		tt.urlList = []string{s}
	}
	for _, tier := range asList(top["announce-list"]) {
		for _, u := range asList(tier) {
			s, _ := u.(string)
			tt.announce = append(tt.announce, s)
		}
	}
	return tt, nil
}

// realFiles returns the paths (under the torrent's name) of the files
// that are not padding entries.
func (tt *e2eTorrent) realFiles(service string) []string {
	var out []string
	for _, f := range tt.files {
		if !strings.HasPrefix(f.path, service+"/nullfile/") {
			out = append(out, f.path)
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// bdecoder decodes bencode and remembers where the top-level info
// dictionary's bytes are.
type bdecoder struct {
	b     []byte
	pos   int
	depth int
	info  []byte
}

func (d *bdecoder) value() (any, error) {
	if d.pos >= len(d.b) {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := d.b[d.pos]; {
	case c == 'i':
		end := bytes.IndexByte(d.b[d.pos:], 'e')
		if end < 0 {
			return nil, io.ErrUnexpectedEOF
		}
		n, err := strconv.ParseInt(string(d.b[d.pos+1:d.pos+end]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bencode integer at %d: %w", d.pos, err)
		}
		d.pos += end + 1
		return n, nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(d.b[d.pos:], ':')
		if colon < 0 {
			return nil, io.ErrUnexpectedEOF
		}
		n, err := strconv.Atoi(string(d.b[d.pos : d.pos+colon]))
		start := d.pos + colon + 1
		if err != nil || n < 0 || start+n > len(d.b) {
			return nil, fmt.Errorf("bencode string at %d: bad length", d.pos)
		}
		d.pos = start + n
		return string(d.b[start:d.pos]), nil
	case c == 'l':
		d.pos++
		d.depth++
		l := []any{}
		for d.pos < len(d.b) && d.b[d.pos] != 'e' {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		if d.pos >= len(d.b) {
			return nil, io.ErrUnexpectedEOF
		}
		d.pos++
		d.depth--
		return l, nil
	case c == 'd':
		d.pos++
		d.depth++
		m := map[string]any{}
		var keys []string
		for d.pos < len(d.b) && d.b[d.pos] != 'e' {
			k, err := d.value()
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("bencode: dictionary key at %d is not a string", d.pos)
			}
			start := d.pos
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			if d.depth == 1 && key == "info" {
				d.info = d.b[start:d.pos]
			}
			m[key] = v
			keys = append(keys, key)
		}
		if d.pos >= len(d.b) {
			return nil, io.ErrUnexpectedEOF
		}
		if !slices.IsSorted(keys) {
			return nil, fmt.Errorf("bencode: dictionary keys not sorted: %q", keys)
		}
		d.pos++
		d.depth--
		return m, nil
	default:
		return nil, fmt.Errorf("bencode: unexpected %q at %d", c, d.pos)
	}
}
