package service

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackpal/bencode-go"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

// fixture is a service over a fresh sample mirror, with its own cache.
type fixture struct {
	t     *testing.T
	root  string
	cache string
	svc   *Service
	logs  *bytes.Buffer
}

func newFixture(t *testing.T, edit func(*config.Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, root: filepath.Join(dir, "www"), cache: filepath.Join(dir, "cache"), logs: new(bytes.Buffer)}
	if err := samplemirror.Create(f.root); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Root = f.root
	cfg.Cache = f.cache
	cfg.Trackers = filepath.Join(dir, "trackers")
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.svc = New(cfg, Options{Log: log})
	// Before the folders go: the entries of requests answered without
	// f.do are written after their answers.
	t.Cleanup(func() { f.svc.Wait() })
	return f
}

// do sends one request to the handler. body, when not nil, is a form.
func (f *fixture) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	// The piece cache entries the request computed are written after
	// its answer; the tests look at the cache as the next request finds
	// it once they are.
	f.svc.Wait()
	return w
}

// get sends a GET of target with the headers h.
func (f *fixture) get(target string, h map[string]string) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range h {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	// The piece cache entries the request computed are written after
	// its answer; the tests look at the cache as the next request finds
	// it once they are.
	f.svc.Wait()
	return w
}

// post sends the yum-torrent POST for paths (with leading slashes) to the
// digest of their "\n"-joined text in the order given.
func (f *fixture) post(paths ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(http.MethodPost, "http://mirror.test/yum/torrent_service/digest/"+digestOf(paths), url.Values{"p": paths})
}

func digestOf(paths []string) string {
	sum := sha1.Sum([]byte(strings.Join(paths, "\n")))
	return hex.EncodeToString(sum[:])
}

func pkg(name string) string { return "/yum/el9/x86_64/Packages/" + name }

// metainfo is a .torrent decoded with bencode-go, independently of the
// encoder under test.
type metainfo struct {
	raw      map[string]any
	info     map[string]any
	infoHash string
}

// decodeTorrent decodes a .torrent and recomputes its info hash from the
// raw bytes of the info value.
func decodeTorrent(t *testing.T, body []byte) metainfo {
	t.Helper()
	v, err := bencode.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("torrent does not decode: %v", err)
	}
	raw, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("torrent is a %T, want a dict", v)
	}
	info, ok := raw["info"].(map[string]any)
	if !ok {
		t.Fatalf("torrent has no info dict")
	}
	// The info hash is SHA-1 over the info value's bytes exactly as they
	// appear in the file: find them by position.
	i := bytes.Index(body, []byte("4:infod"))
	if i < 0 {
		t.Fatalf("no info key in torrent")
	}
	start := i + len("4:info")
	end := start + valueLen(t, body[start:])
	sum := sha1.Sum(body[start:end])
	return metainfo{raw: raw, info: info, infoHash: hex.EncodeToString(sum[:])}
}

// valueLen returns the length of the bencoded value at the start of b.
func valueLen(t *testing.T, b []byte) int {
	t.Helper()
	switch {
	case b[0] == 'i':
		return bytes.IndexByte(b, 'e') + 1
	case b[0] == 'l' || b[0] == 'd':
		n := 1
		for b[n] != 'e' {
			n += valueLen(t, b[n:])
		}
		return n + 1
	case b[0] >= '0' && b[0] <= '9':
		c := bytes.IndexByte(b, ':')
		var l int
		fmt.Sscanf(string(b[:c]), "%d", &l)
		return c + 1 + l
	}
	t.Fatalf("bad bencode at %q", b[:min(10, len(b))])
	return 0
}

// verifyPieces recomputes every piece digest of a torrent straight from
// the files under root and zeros for padding entries, and compares them
// with the torrent's pieces. It uses nothing of the code under test.
func verifyPieces(t *testing.T, root, service string, m metainfo) {
	t.Helper()
	pl := int(m.info["piece length"].(int64))
	var data bytes.Buffer
	if files, ok := m.info["files"].([]any); ok {
		name := m.info["name"].(string)
		for _, fe := range files {
			e := fe.(map[string]any)
			var parts []string
			for _, p := range e["path"].([]any) {
				parts = append(parts, p.(string))
			}
			length := e["length"].(int64)
			if len(parts) == 3 && parts[0] == service && parts[1] == "nullfile" {
				data.Write(make([]byte, length))
				continue
			}
			b, err := os.ReadFile(filepath.Join(append([]string{root, name}, parts...)...))
			if err != nil {
				t.Fatalf("torrent names %v: %v", parts, err)
			}
			if int64(len(b)) != length {
				t.Errorf("%v: length %d in torrent, %d on disk", parts, length, len(b))
			}
			data.Write(b)
		}
	} else {
		seed := m.raw["url-list"].([]any)[0].(string)
		u, err := url.Parse(seed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(u.Path), m.info["name"].(string)))
		if err != nil {
			t.Fatalf("single-file torrent: web seed %s + name does not name a file: %v", seed, err)
		}
		if int64(len(b)) != m.info["length"].(int64) {
			t.Errorf("length %d in torrent, %d on disk", m.info["length"], len(b))
		}
		data.Write(b)
	}
	var want []byte
	all := data.Bytes()
	for off := 0; off < len(all); off += pl {
		sum := sha1.Sum(all[off:min(off+pl, len(all))])
		want = append(want, sum[:]...)
	}
	got := []byte(m.info["pieces"].(string))
	if !bytes.Equal(got, want) {
		t.Errorf("pieces: %d digests in torrent, recomputed %d; they differ", len(got)/20, len(want)/20)
	}
}

// sampleSize returns the size of a sample mirror file.
func sampleSize(p string) int64 {
	for _, f := range samplemirror.Files {
		if "/"+f.Path == p {
			return f.Size
		}
	}
	panic("no sample file " + p)
}
