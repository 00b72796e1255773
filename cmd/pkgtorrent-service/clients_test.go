package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

const (
	systemPython = "/usr/bin/python3"
	ltClient     = "testdata/ltclient.py"
)

// ltJSON runs ltclient.py and decodes its JSON output.
func ltJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	cmd := exec.Command(systemPython, append([]string{ltClient}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ltclient.py %s: %v\n%s%s", args[0], err, out, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("ltclient.py %s: %v: %s", args[0], err, out)
	}
}

// hybridHashes returns the v1 and v2 info hashes of a torrent, from its
// info re-encoded canonically.
func hybridHashes(t *testing.T, body []byte) (v1, v2 string) {
	t.Helper()
	s := sha256.Sum256(canonicalInfo(t, body))
	return infoHash(t, body), hex.EncodeToString(s[:])
}

// TestHybridWithRealClients serves hybrid torrents from the real binary and
// has libtorrent (v1+v2) and aria2 (v1 only) load them and download every
// file from the web seed.
func TestHybridWithRealClients(t *testing.T) {
	e2e.Need(t, "libtorrent") // fails, naming the package, when it is missing
	root, cache, trackers := mirror(t)
	const tricky = "yum/el9/x86_64/Packages/a b&c=d+e.rpm"
	if err := os.WriteFile(filepath.Join(root, tricky), bytes.Repeat([]byte("tricky name "), 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	site := startServer(t, "hybrid", serviceBinary(t), nil, "-root", root, "-cache", cache, "-trackers", trackers, "-format", "hybrid").url
	mount := site + "/yum/torrent_service"
	pkgs := []string{tricky}
	for _, n := range []string{"empty-0-1.noarch.rpm", "exact-3-1.x86_64.rpm", "libstdc++-devel-11.4.1-2.el9.x86_64.rpm",
		"one-1.0-1.noarch.rpm", "piece-1.0-1.x86_64.rpm", "pieceplus-1.0-1.x86_64.rpm", "several-2.5-1.x86_64.rpm", "tilde-1.0~rc1-1.noarch.rpm"} {
		pkgs = append(pkgs, "yum/el9/x86_64/Packages/"+n)
	}
	for _, tc := range []struct {
		name, target string
		files        []string // downloaded paths under the save folder
		srcs         []string // the same files under root
	}{
		{"multi-file", mount + "/single/yum/el9/x86_64/Packages/*.rpm", pkgs, pkgs},
		{"single-file", mount + "/single/yum/iso/boot.iso", []string{"boot.iso"}, []string{"yum/iso/boot.iso"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := get(t, "GET", tc.target, nil)
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			v1, v2 := hybridHashes(t, body)
			if cd := res.Header.Get("Content-Disposition"); cd != "attachment; filename="+v1+".torrent" {
				t.Errorf("Content-Disposition %q, want the v1 info hash %s", cd, v1)
			}
			dir := t.TempDir()
			tor := filepath.Join(dir, "x.torrent")
			os.WriteFile(tor, body, 0o644)
			var info struct {
				V1, V2 string
				Name   string
			}
			ltJSON(t, &info, "info", "--torrent", tor)
			if info.V1 != v1 || info.V2 != v2 {
				t.Errorf("libtorrent: info hashes v1 %q v2 %q, want %s and %s (hybrid)", info.V1, info.V2, v1, v2)
			}

			check := func(client, save string) {
				t.Helper()
				got := make([]string, len(tc.files))
				for i, f := range tc.files {
					got[i] = filepath.Join(save, filepath.FromSlash(f))
				}
				for i := range tc.files {
					a, _ := os.ReadFile(filepath.Join(root, tc.srcs[i]))
					b, err := os.ReadFile(got[i])
					if err != nil || !bytes.Equal(a, b) {
						t.Errorf("%s: %s: %d bytes downloaded (%v), want the %d bytes of the original", client, tc.files[i], len(b), err, len(a))
					}
				}
			}
			ltSave := filepath.Join(dir, "lt")
			var done struct {
				IsSeeding bool `json:"is_seeding"`
			}
			ltJSON(t, &done, "download", "--torrent", tor, "--save", ltSave)
			if !done.IsSeeding {
				t.Errorf("libtorrent did not finish")
			}
			check("libtorrent", ltSave)

			aria := e2e.Need(t, "aria2c")
			ariaSave := filepath.Join(dir, "aria2")
			out, err := exec.Command(aria, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
				"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--bt-stop-timeout=120",
				"--listen-port=16881-16999", "--console-log-level=warn", "--summary-interval=0",
				"-d", ariaSave, tor).CombinedOutput()
			if err != nil {
				t.Fatalf("aria2c: %v\n%s", err, out)
			}
			check("aria2", ariaSave)
		})
	}

	t.Run("magnet", func(t *testing.T) {
		for _, tc := range []struct{ path, name, ws string }{
			{tricky, "a b&c=d+e.rpm", site + "/yum/el9/x86_64/Packages/a%20b&c=d+e.rpm"},
			{"yum/el9/x86_64/Packages/*.rpm", "yum", ""},
		} {
			_, tor := get(t, "GET", mount+"/single/"+escape(tc.path), nil)
			v1, v2 := hybridHashes(t, tor)
			res, body := get(t, "GET", mount+"/magnet/"+escape(tc.path), nil)
			if res.StatusCode != 200 {
				t.Fatalf("magnet: status %d: %s", res.StatusCode, body)
			}
			var m struct {
				V1, V2, Name string
				Trackers     []string
				URLSeeds     []string `json:"url_seeds"`
			}
			ltJSON(t, &m, "magnet", "--uri", strings.TrimSpace(string(body)))
			if m.V1 != v1 || m.V2 != v2 || m.Name != tc.name {
				t.Errorf("libtorrent reads %+v from %s, want v1 %s v2 %s name %q", m, body, v1, v2, tc.name)
			}
			if len(m.Trackers) != 1 || m.Trackers[0] != "udp://127.0.0.1:1/announce" {
				t.Errorf("trackers %q, want the one of the trackers file", m.Trackers)
			}
			if tc.ws != "" && (len(m.URLSeeds) != 1 || m.URLSeeds[0] != tc.ws) {
				t.Errorf("url seeds %q, want %q", m.URLSeeds, tc.ws)
			}
		}
	})
}

// escape escapes a path for a request URL, keeping its slashes and glob
// characters' meaning.
func escape(p string) string {
	r := strings.NewReplacer(" ", "%20", "&", "%26", "+", "%2B", "=", "%3D")
	return r.Replace(p)
}
