package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// hybridCase is one entry of testdata/golden/hybrid.json, whose expected
// values libtorrent computed (testdata/reference/hybrid.py).
type hybridCase struct {
	Name              string            `json:"name"`
	Mode              string            `json:"mode"`
	Pattern           string            `json:"pattern"`
	Paths             []string          `json:"paths"`
	Digest            string            `json:"digest"`
	InfoHash          string            `json:"info_hash"`
	InfoHashV2        string            `json:"info_hash_v2"`
	PieceLayersSHA256 string            `json:"piece_layers_sha256"`
	PiecesRoots       map[string]string `json:"pieces_roots"`
	Files             int               `json:"files"`
	URLDir            string            `json:"url_dir"`
}

func loadHybridGolden(t *testing.T) []hybridCase {
	t.Helper()
	b, err := os.ReadFile("../../testdata/golden/hybrid.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []hybridCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("hybrid.json: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("no hybrid golden cases")
	}
	return cases
}

// rawValue returns the bytes of the top-level value of key in a .torrent.
func rawValue(t *testing.T, body []byte, key string) []byte {
	t.Helper()
	p := 1
	for p < len(body) && body[p] != 'e' {
		kl := valueLen(t, body[p:])
		k := body[p:][bytes.IndexByte(body[p:], ':')+1 : kl]
		vl := valueLen(t, body[p+kl:])
		if string(k) == key {
			return body[p+kl : p+kl+vl]
		}
		p += kl + vl
	}
	return nil
}

// merkleRoot is the BEP 52 tree of data, computed naively: SHA-256 of each
// 16 KiB block, zero leaves up to a power of two (at least minLeaves),
// pairs hashed up to the root. It shares nothing with pkg/pieces.
func merkleRoot(data []byte, minLeaves int) []byte {
	var level [][]byte
	for off := 0; off < len(data); off += 16 << 10 {
		s := sha256.Sum256(data[off:min(off+16<<10, len(data))])
		level = append(level, s[:])
	}
	width := 1
	for width < max(len(level), minLeaves) {
		width *= 2
	}
	for len(level) < width {
		level = append(level, make([]byte, 32))
	}
	for len(level) > 1 {
		var up [][]byte
		for i := 0; i < len(level); i += 2 {
			s := sha256.Sum256(append(append([]byte{}, level[i]...), level[i+1]...))
			up = append(up, s[:])
		}
		level = up
	}
	return level[0]
}

// verifyV2 checks every pieces root of a hybrid torrent's file tree and
// every piece layer against the files under root, computed naively.
func verifyV2(t *testing.T, root string, m metainfo, body []byte, top string) map[string]string {
	t.Helper()
	pl := int(m.info["piece length"].(int64))
	layers, _ := m.raw["piece layers"].(map[string]any)
	if layers == nil {
		t.Errorf("no piece layers")
	}
	roots := map[string]string{}
	var walk func(node map[string]any, rel string)
	walk = func(node map[string]any, rel string) {
		for name, sub := range node {
			subm := sub.(map[string]any)
			if name != "" {
				walk(subm, rel+"/"+name)
				continue
			}
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatalf("file tree names %s: %v", rel, err)
			}
			if subm["length"].(int64) != int64(len(data)) {
				t.Errorf("%s: length %d in file tree, %d on disk", rel, subm["length"], len(data))
			}
			pr, ok := subm["pieces root"].(string)
			if len(data) == 0 {
				if ok {
					t.Errorf("%s: empty file with a pieces root", rel)
				}
				continue
			}
			if want := merkleRoot(data, 1); pr != string(want) {
				t.Errorf("%s: pieces root %x, want %x", rel, pr, want)
			}
			roots[strings.TrimPrefix(rel, "/")] = hex.EncodeToString([]byte(pr))
			if len(data) <= pl {
				continue
			}
			var want []byte
			for off := 0; off < len(data); off += pl {
				want = append(want, merkleRoot(data[off:min(off+pl, len(data))], pl/(16<<10))...)
			}
			if got, _ := layers[pr].(string); got != string(want) {
				t.Errorf("%s: piece layer of %d hashes, want %d", rel, len(got)/32, len(want)/32)
			}
		}
	}
	walk(m.info["file tree"].(map[string]any), top)
	return roots
}

func TestGoldenHybrid(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Format = torrent.Hybrid })
	for _, c := range loadHybridGolden(t) {
		t.Run(c.Name, func(t *testing.T) {
			f.t = t
			var target string
			var form url.Values
			method := http.MethodGet
			if c.Mode == "single" {
				target = "http://mirror.test/yum/torrent_service/single/" + c.Pattern
			} else {
				if got := digestOf(c.Paths); got != c.Digest {
					t.Fatalf("case digest %s, recomputed %s", c.Digest, got)
				}
				target, method, form = "http://mirror.test/yum/torrent_service/digest/"+c.Digest, http.MethodPost, url.Values{"p": c.Paths}
			}
			rr := f.do(method, target, form)
			if rr.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", rr.Code, rr.Body)
			}
			body := rr.Body.Bytes()
			m := decodeTorrent(t, body)
			info := rawValue(t, body, "info")
			if m.infoHash != c.InfoHash {
				t.Errorf("v1 info hash = %s, want %s", m.infoHash, c.InfoHash)
			}
			if v2 := sha256.Sum256(info); hex.EncodeToString(v2[:]) != c.InfoHashV2 {
				t.Errorf("v2 info hash = %x, want %s (the info dict differs from libtorrent's)", v2, c.InfoHashV2)
			}
			if got, want := rr.Header().Get("Content-Disposition"), "attachment; filename="+c.InfoHash+".torrent"; got != want {
				t.Errorf("Content-Disposition = %q, want %q", got, want)
			}
			if s := sha256.Sum256(rawValue(t, body, "piece layers")); hex.EncodeToString(s[:]) != c.PieceLayersSHA256 {
				t.Errorf("piece layers differ from libtorrent's")
			}
			if m.info["meta version"] != int64(2) {
				t.Errorf("meta version = %v, want 2", m.info["meta version"])
			}
			n := 1
			if files, ok := m.info["files"].([]any); ok {
				n = len(files)
			}
			if n != c.Files {
				t.Errorf("%d file entries, want %d", n, c.Files)
			}
			wantSeed := "http://mirror.test/"
			if c.URLDir != "" {
				wantSeed += c.URLDir + "/"
			}
			if seed := m.raw["url-list"].([]any)[0].(string); seed != wantSeed {
				t.Errorf("url-list = %q, want %q", seed, wantSeed)
			}
			verifyPieces(t, f.root, "torrent_service", m)
			top := c.URLDir
			if top == "" {
				top = "yum"
			}
			roots := verifyV2(t, f.root, m, body, top)
			if len(roots) != len(c.PiecesRoots) {
				t.Errorf("%d pieces roots, libtorrent has %d", len(roots), len(c.PiecesRoots))
			}
			for p, want := range c.PiecesRoots {
				if roots[p] != want {
					t.Errorf("%s: pieces root %s, libtorrent's %s", p, roots[p], want)
				}
			}
		})
	}
}
