package torrent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// TestGolden builds the info of every case of testdata/golden from the
// sample mirror's bytes and compares it with the info hashes that the
// independent Python reference (testdata/reference) computed.
func TestGolden(t *testing.T) {
	var cases []struct {
		Name    string   `json:"name"`
		Mode    string   `json:"mode"`
		Format  string   `json:"format"`
		Pattern string   `json:"pattern"`
		Paths   []string `json:"paths"`
	}
	var expected map[string]struct {
		InfoHash   string `json:"info_hash"`
		InfoSHA256 string `json:"info_sha256"`
		Files      int    `json:"files"`
	}
	readJSON(t, "../../testdata/golden/cases.json", &cases)
	readJSON(t, "../../testdata/golden/expected.json", &expected)
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	digests := map[string]*pieces.Digests{}
	for _, f := range samplemirror.Files {
		d, err := pieces.Hash(bytes.NewReader(samplemirror.Content(f.Path, f.Size)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		digests[f.Path] = d
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, ok := expected[c.Name]
			if !ok {
				t.Fatalf("no expected result for %s", c.Name)
			}
			format, err := ParseFormat(c.Format)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			if c.Mode == "single" {
				// The sample mirror's files in bytewise order, matched
				// with path.Match: no hidden files or symlinks there.
				for _, f := range samplemirror.Files {
					if ok, _ := path.Match(c.Pattern, f.Path); ok {
						paths = append(paths, f.Path)
					}
				}
				slices.Sort(paths)
			} else {
				for _, p := range c.Paths {
					paths = append(paths, strings.TrimPrefix(p, "/"))
				}
			}
			files := make([]File, len(paths))
			for i, p := range paths {
				if digests[p] == nil {
					t.Fatalf("%s is not in the sample mirror", p)
				}
				files[i] = File{Path: p, Digests: digests[p]}
			}
			var info []byte
			if c.Mode == "single" && len(files) == 1 {
				info, err = Single(files[0])
			} else {
				info, err = Multi(files, "torrent_service", format)
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			hash := InfoHash(info)
			if got := hex.EncodeToString(hash[:]); got != want.InfoHash {
				t.Errorf("info hash = %s, want %s", got, want.InfoHash)
			}
			sum := sha256.Sum256(info)
			if got := hex.EncodeToString(sum[:]); got != want.InfoSHA256 {
				t.Errorf("SHA-256 of the info = %s, want %s", got, want.InfoSHA256)
			}
			n := 1
			if files, ok := decodeDict(t, info).vals["files"]; ok {
				n = len(asList(files))
			}
			if n != want.Files {
				t.Errorf("%d file entries, want %d", n, want.Files)
			}
		})
	}
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
