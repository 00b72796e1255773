package inspect_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/inspect"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/service"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// mirror is a sample mirror behind the real service.
type mirror struct {
	root string
	srv  *httptest.Server
}

func newMirror(t *testing.T, format torrent.Format) *mirror {
	t.Helper()
	dir := t.TempDir()
	m := &mirror{root: filepath.Join(dir, "www")}
	if err := samplemirror.Create(m.root); err != nil {
		t.Fatal(err)
	}
	trackers := filepath.Join(dir, "trackers")
	os.WriteFile(trackers, []byte("udp://127.0.0.1:6969/announce\nhttp://127.0.0.1:6970/announce\n"), 0o644)
	cfg := config.Default()
	cfg.Root, cfg.Cache, cfg.Trackers, cfg.Format = m.root, filepath.Join(dir, "cache"), trackers, format
	svc := service.New(cfg, service.Options{Log: slog.New(slog.DiscardHandler)})
	// Each answer once its piece cache entries are written, as the
	// tests look at the cache.
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { svc.ServeHTTP(w, r); svc.Wait() }))
	t.Cleanup(m.srv.Close)
	return m
}

// get fetches a torrent from the service and returns it with the info
// hash its Content-Disposition names.
func (m *mirror) get(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	res, err := http.Get(m.srv.URL + "/yum/torrent_service/single/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s", path, res.Status, b.String())
	}
	name := strings.TrimPrefix(res.Header.Get("Content-Disposition"), "attachment; filename=")
	return b.Bytes(), strings.TrimSuffix(name, ".torrent")
}

func TestParseServiceTorrents(t *testing.T) {
	for _, format := range []torrent.Format{torrent.BEP47, torrent.Pkgtorrent} {
		t.Run(string(format), func(t *testing.T) {
			m := newMirror(t, format)
			b, hash := m.get(t, "yum/el9/x86_64/Packages/*.rpm")
			tor, err := inspect.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(tor.InfoHash[:]); got != hash {
				t.Errorf("info hash %s, the service says %s", got, hash)
			}
			if tor.Name != "yum" || tor.Single || tor.PieceLength != 1<<20 || tor.InfoHashV2 != nil {
				t.Errorf("name %q, single %v, piece length %d, v2 %v", tor.Name, tor.Single, tor.PieceLength, tor.InfoHashV2)
			}
			if int64(tor.NumPieces()) != tor.WantPieces() {
				t.Errorf("%d pieces for %d bytes", tor.NumPieces(), tor.Length)
			}
			wantKind := map[torrent.Format]string{torrent.BEP47: "BEP 47", torrent.Pkgtorrent: "nullfile"}[format]
			var files, pads int
			for _, f := range tor.Files {
				if f.Padding {
					pads++
					if f.PaddingKind != wantKind || f.Path[0] != "torrent_service" || f.Path[1] != "nullfile" {
						t.Errorf("padding entry %v of kind %q, want %q", f.Path, f.PaddingKind, wantKind)
					}
					continue
				}
				files++
				fi, err := os.Stat(filepath.Join(m.root, "yum", filepath.Join(f.Path...)))
				if err != nil || fi.Size() != f.Length {
					t.Errorf("file %v of %d bytes: %v", f.Path, f.Length, err)
				}
			}
			if files != 8 || pads != 4 {
				t.Errorf("%d files and %d padding entries, want 8 and 4", files, pads)
			}
			if len(tor.Trackers) != 2 || len(tor.Trackers[0]) != 1 {
				t.Errorf("trackers %q, want two tiers of one", tor.Trackers)
			}
			if len(tor.WebSeeds) != 1 || tor.WebSeeds[0] != m.srv.URL+"/" {
				t.Errorf("web seeds %q, want [%s/]", tor.WebSeeds, m.srv.URL)
			}

			var out bytes.Buffer
			inspect.Print(&out, tor)
			for _, want := range []string{
				"name:          yum\n",
				"info hash:     " + hash + "\n",
				"piece length:  1048576 (1.0 MiB)\n",
				"in 8 files and 4 padding entries\n",
				"        0  el9/x86_64/Packages/empty-0-1.noarch.rpm\n",
				"  torrent_service/nullfile/1048575_0  (padding, " + wantKind + ")\n",
				"trackers:\n  tier 1: ",
				"web seeds:\n  " + m.srv.URL + "/\n",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}

			v, err := inspect.Verify(context.Background(), tor, m.root)
			if err != nil || len(v.Bad) != 0 || len(v.Problems) != 0 || v.Pieces != tor.NumPieces() {
				t.Errorf("verify against the mirror: %+v, %v; want every piece good", v, err)
			}
		})
	}
}

func TestVerifyFindsBadPieces(t *testing.T) {
	m := newMirror(t, torrent.BEP47)
	b, _ := m.get(t, "yum/el9/x86_64/Packages/*.rpm")
	tor, err := inspect.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	// One byte changed 1.5 MiB into several-2.5-1 (its second piece), and
	// tilde's file gone.
	several := filepath.Join(m.root, "yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm")
	fd, err := os.OpenFile(several, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd.WriteAt([]byte{0xff}, 3<<19)
	fd.Close()
	os.Remove(filepath.Join(m.root, "yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm"))

	var severalIdx, tildeIdx int
	for i, f := range tor.Files {
		switch f.Path[len(f.Path)-1] {
		case "several-2.5-1.x86_64.rpm":
			severalIdx = i
		case "tilde-1.0~rc1-1.noarch.rpm":
			tildeIdx = i
		}
	}
	v, err := inspect.Verify(context.Background(), tor, m.root)
	if !errors.Is(err, inspect.ErrBadPieces) {
		t.Fatalf("verify: %v, want ErrBadPieces", err)
	}
	wantSeveral := int(tor.Files[severalIdx].Offset/tor.PieceLength) + 1
	wantTilde := int(tor.Files[tildeIdx].Offset / tor.PieceLength)
	if len(v.Bad) != 2 || v.Bad[0].Index != min(wantSeveral, wantTilde) || v.Bad[1].Index != max(wantSeveral, wantTilde) {
		t.Fatalf("bad pieces %+v, want %d (several) and %d (tilde)", v.Bad, wantSeveral, wantTilde)
	}
	if len(v.Problems) != 1 || v.Problems[0].File != tildeIdx || !errors.Is(v.Problems[0].Err, os.ErrNotExist) {
		t.Errorf("problems %+v, want tilde missing", v.Problems)
	}
	var out bytes.Buffer
	v.Print(&out, tor)
	for _, want := range []string{
		"verify: el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm: ",
		"verify: piece " + itoa(wantSeveral) + " does not match (el9/x86_64/Packages/several-2.5-1.x86_64.rpm)\n",
		"verify: 2 of " + itoa(tor.NumPieces()) + " pieces do not match; files with bad pieces: ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// sha1Of returns the raw SHA-1 of s, as a torrent's pieces hold it.
func sha1Of(s string) string {
	sum := sha1.Sum([]byte(s))
	return string(sum[:])
}

func TestVerifySingleFile(t *testing.T) {
	m := newMirror(t, torrent.BEP47)
	b, _ := m.get(t, "yum/iso/boot.iso")
	tor, err := inspect.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !tor.Single || tor.Name != "boot.iso" || tor.Length != 2097229 || len(tor.Files) != 1 {
		t.Fatalf("single-file torrent parsed as %+v", tor)
	}
	// A client downloads it into a folder: here, the file's own.
	if _, err := inspect.Verify(context.Background(), tor, filepath.Join(m.root, "yum/iso")); err != nil {
		t.Errorf("verify: %v", err)
	}
	os.Truncate(filepath.Join(m.root, "yum/iso/boot.iso"), 2097228)
	v, err := inspect.Verify(context.Background(), tor, filepath.Join(m.root, "yum/iso"))
	if !errors.Is(err, inspect.ErrBadPieces) || len(v.Bad) != 1 || v.Bad[0].Index != 2 || len(v.Problems) != 1 || !strings.Contains(v.Problems[0].Err.Error(), "shorter") {
		t.Errorf("truncated by one byte: %+v, %v; want piece 2 bad, the file shorter", v, err)
	}
}

func TestVerifyStaysInsideRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "top"), 0o755)
	// A file outside the root whose content would match.
	os.WriteFile(filepath.Join(dir, "secret"), []byte("abc"), 0o644)
	pieces := sha1Of("abc")
	b := []byte("d4:infod5:filesld6:lengthi3e4:pathl2:..2:..6:secreteee4:name3:top12:piece lengthi16384e6:pieces20:" + pieces + "ee")
	tor, err := inspect.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := inspect.Verify(context.Background(), tor, root)
	if !errors.Is(err, inspect.ErrBadPieces) || len(v.Problems) != 1 || !strings.Contains(v.Problems[0].Err.Error(), "unsafe path component") {
		t.Errorf("verify of ../../secret: %+v, %v; want it refused and the piece bad", v, err)
	}
}

// TestVerifyFifo checks that a fifo in a file's place counts as a file
// that cannot be read, rather than blocking Verify in its open for good.
func TestVerifyFifo(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tor, err := inspect.Parse([]byte("d4:infod6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:" + sha1Of("abc") + "ee"))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   inspect.Verification
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := inspect.Verify(context.Background(), tor, root)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if !errors.Is(r.err, inspect.ErrBadPieces) || len(r.v.Problems) != 1 || !strings.Contains(r.v.Problems[0].Err.Error(), "not a regular file") {
			t.Errorf("verify of a fifo: %+v, %v; want it refused and the piece bad", r.v, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("verify of a fifo still blocked after 10s")
	}
}

func TestParseMalformed(t *testing.T) {
	good := "d4:infod6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:" + sha1Of("abc") + "ee"
	if _, err := inspect.Parse([]byte(good)); err != nil {
		t.Fatalf("minimal torrent: %v", err)
	}
	for name, b := range map[string]string{
		"empty":           "",
		"not a dict":      "li1ee",
		"truncated":       good[:len(good)-1],
		"trailing bytes":  good + "x",
		"no info":         "d3:foo3:bare",
		"info not a dict": "d4:infoi1ee",
		"too deep":        "d4:infod1:x" + strings.Repeat("l", 100) + strings.Repeat("e", 100) + "ee",
		"string too long": "d4:info99999999999999999999:x",
		"bad integer":     "d4:infod1:xi1x2eee",
		"pieces not 20s":  "d4:infod6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces3:abcee",
		"no length":       "d4:infod4:name1:x12:piece lengthi16384e6:pieces0:ee",
		"bad piece len":   "d4:infod6:lengthi3e4:name1:x12:piece lengthi0e6:pieces0:ee",
	} {
		if _, err := inspect.Parse([]byte(b)); !errors.Is(err, inspect.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestRead(t *testing.T) {
	body := []byte("d4:infod6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:" + sha1Of("abc") + "ee")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/x.torrent":
			w.Write(body)
		case "/big":
			// No Content-Length: the limit is found while reading.
			w.(http.Flusher).Flush()
			w.Write(bytes.Repeat([]byte("x"), 1000))
		default:
			http.Error(w, "nothing here", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	b, err := inspect.Read(context.Background(), srv.URL+"/x.torrent", nil, 0)
	if err != nil || !bytes.Equal(b, body) {
		t.Errorf("URL: %q, %v", b, err)
	}
	if _, err := inspect.Read(context.Background(), srv.URL+"/big", nil, 100); !errors.Is(err, inspect.ErrTooLarge) {
		t.Errorf("1000 bytes with a limit of 100: %v, want ErrTooLarge", err)
	}
	if _, err := inspect.Read(context.Background(), srv.URL+"/missing", nil, 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	file := filepath.Join(t.TempDir(), "x.torrent")
	os.WriteFile(file, body, 0o644)
	if b, err := inspect.Read(context.Background(), file, nil, 0); err != nil || !bytes.Equal(b, body) {
		t.Errorf("file: %q, %v", b, err)
	}
	if _, err := inspect.Read(context.Background(), file, nil, 10); !errors.Is(err, inspect.ErrTooLarge) {
		t.Errorf("file over the limit: %v, want ErrTooLarge", err)
	}
}

// FuzzParse checks that no input makes Parse panic or loop, and that
// whatever it accepts has pieces it can index.
func FuzzParse(f *testing.F) {
	f.Add([]byte("d4:infod6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:" + sha1Of("abc") + "ee"))
	f.Add([]byte("d8:announce3:url4:infod5:filesld6:lengthi1e4:pathl1:aeed4:attr1:p6:lengthi16383e4:pathl1:s8:nullfile7:16383_0eee4:name1:t12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae8:url-listl5:http:ee"))
	f.Add([]byte("d4:infod9:file treed1:ad0:d6:lengthi5eeee12:meta versioni2e4:name1:t12:piece lengthi16384eee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tor, err := inspect.Parse(b)
		if err != nil {
			return
		}
		if len(tor.Pieces)%20 != 0 || tor.PieceLength <= 0 {
			t.Fatalf("accepted pieces of %d bytes, piece length %d", len(tor.Pieces), tor.PieceLength)
		}
		var out bytes.Buffer
		inspect.Print(&out, tor)
	})
}

func TestHybridTorrent(t *testing.T) {
	m := newMirror(t, torrent.Hybrid)
	b, hash := m.get(t, "yum/el9/x86_64/Packages/*.rpm")
	tor, err := inspect.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(tor.InfoHash[:]); got != hash || tor.InfoHashV2 == nil {
		t.Fatalf("info hash %s (the service says %s), v2 %v", got, hash, tor.InfoHashV2)
	}
	var out bytes.Buffer
	inspect.Print(&out, tor)
	if !strings.Contains(out.String(), "info hash v2:  "+hex.EncodeToString(tor.InfoHashV2[:])+"\n") {
		t.Errorf("no v2 info hash line:\n%s", out.String())
	}
	if v, err := inspect.Verify(context.Background(), tor, m.root); err != nil || len(v.Bad) != 0 {
		t.Errorf("verify of a hybrid torrent: %+v, %v", v, err)
	}
}
