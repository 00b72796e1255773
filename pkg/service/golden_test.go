package service

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// goldenCase is one entry of testdata/golden/cases.json; the expected
// values in expected.json were computed by testdata/reference (an
// independent Python implementation, cross-checked with mktorrent and
// libtorrent) over the same sample mirror.
type goldenCase struct {
	Name    string   `json:"name"`
	Mode    string   `json:"mode"`
	Format  string   `json:"format"`
	Pattern string   `json:"pattern"`
	Paths   []string `json:"paths"`
	Digest  string   `json:"digest"`
}

type goldenWant struct {
	InfoHash string `json:"info_hash"`
	Files    int    `json:"files"`
	URLDir   string `json:"url_dir"`
}

func loadGolden(t *testing.T) ([]goldenCase, map[string]goldenWant) {
	t.Helper()
	var cases []goldenCase
	want := map[string]goldenWant{}
	for name, v := range map[string]any{"cases.json": &cases, "expected.json": &want} {
		b, err := os.ReadFile("../../testdata/golden/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	return cases, want
}

func TestGolden(t *testing.T) {
	cases, want := loadGolden(t)
	fixtures := map[string]*fixture{}
	for _, format := range []string{"pkgtorrent", "bep47"} {
		fixtures[format] = newFixture(t, func(c *config.Config) { c.Format = torrent.Format(format) })
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			w, ok := want[c.Name]
			if !ok {
				t.Fatalf("no expected value for %s", c.Name)
			}
			f := fixtures[c.Format]
			f.t = t
			var rr *httptest.ResponseRecorder
			switch c.Mode {
			case "single":
				rr = f.do(http.MethodGet, "http://mirror.test/yum/torrent_service/single/"+c.Pattern, nil)
			case "digest":
				if got := digestOf(c.Paths); got != c.Digest {
					t.Fatalf("case digest %s, recomputed %s", c.Digest, got)
				}
				rr = f.do(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+c.Digest, url.Values{"p": c.Paths})
			}
			rec := rr.Result()
			if rec.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.StatusCode)
			}
			body := readAll(t, rec)
			m := decodeTorrent(t, body)
			if m.infoHash != w.InfoHash {
				t.Errorf("info hash = %s, want %s", m.infoHash, w.InfoHash)
			}
			if p, ok := m.info["private"]; ok {
				t.Errorf("info private = %#v without the private setting, want no such key", p)
			}
			if got, want := rec.Header.Get("Content-Disposition"), "attachment; filename="+w.InfoHash+".torrent"; got != want {
				t.Errorf("Content-Disposition = %q, want %q", got, want)
			}
			seed := m.raw["url-list"].([]any)[0].(string)
			wantSeed := "http://mirror.test/"
			if w.URLDir != "" {
				wantSeed += w.URLDir + "/"
			}
			if seed != wantSeed {
				t.Errorf("url-list = %q, want %q", seed, wantSeed)
			}
			if files, ok := m.info["files"].([]any); ok && len(files) != w.Files {
				t.Errorf("%d file entries, want %d", len(files), w.Files)
			}
			verifyPieces(t, f.root, "torrent_service", m)

			// The same request again is answered from the info cache,
			// with the same bytes.
			again := f.do(http.MethodGet, "http://mirror.test"+requestPath(c), nil).Result()
			if again.StatusCode != http.StatusOK {
				t.Fatalf("repeated request: status %d, want 200", again.StatusCode)
			}
			if b := readAll(t, again); string(b) != string(body) {
				t.Errorf("repeated request gave another torrent")
			}
		})
	}
}

func requestPath(c goldenCase) string {
	if c.Mode == "single" {
		return path.Join("/yum/torrent_service/single", c.Pattern)
	}
	return "/yum/torrent_service/digest/" + c.Digest
}

func readAll(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
