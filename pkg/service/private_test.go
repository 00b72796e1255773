package service

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackpal/bencode-go"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/config"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// privateCase is a request and the info hashes of its public torrent, as
// the independent reference (testdata/reference) and libtorrent computed
// them: every golden case, in every format.
type privateCase struct {
	name, target string
	form         url.Values
	format       torrent.Format
	v1, v2       string // v2 for a hybrid torrent only
}

func privateCases(t *testing.T) []privateCase {
	t.Helper()
	var cases []privateCase
	golden, want := loadGolden(t)
	for _, c := range golden {
		pc := privateCase{name: c.Name, format: torrent.Format(c.Format), v1: want[c.Name].InfoHash,
			target: "http://mirror.test" + requestPath(c)}
		if c.Mode == "digest" {
			pc.form = url.Values{"p": c.Paths}
		}
		cases = append(cases, pc)
	}
	for _, c := range loadHybridGolden(t) {
		pc := privateCase{name: c.Name, format: torrent.Hybrid, v1: c.InfoHash, v2: c.InfoHashV2,
			target: "http://mirror.test/yum/torrent_service/single/" + c.Pattern}
		if c.Mode == "digest" {
			pc.target, pc.form = "http://mirror.test/yum/torrent_service/digest/"+c.Digest, url.Values{"p": c.Paths}
		}
		cases = append(cases, pc)
	}
	return cases
}

// dictKeys returns the keys of the bencoded dictionary b in the order
// they are written, walking the bytes (valueLen), not decoding them.
func dictKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var keys []string
	for p := 1; p < len(b) && b[p] != 'e'; {
		kl := valueLen(t, b[p:])
		keys = append(keys, string(b[p:][bytes.IndexByte(b[p:], ':')+1:kl]))
		p += kl + valueLen(t, b[p+kl:])
	}
	return keys
}

// publicHashes decodes an info dictionary with bencode-go, drops its
// "private" key and encodes it again (bencode-go sorts keys): the v1 and
// v2 info hashes of the same torrent without the flag.
func publicHashes(t *testing.T, info []byte) (v1, v2 string) {
	t.Helper()
	v, err := bencode.Decode(bytes.NewReader(info))
	if err != nil {
		t.Fatalf("info does not decode: %v", err)
	}
	d := v.(map[string]any)
	delete(d, "private")
	var buf bytes.Buffer
	if err := bencode.Marshal(&buf, d); err != nil {
		t.Fatal(err)
	}
	s1, s2 := sha1.Sum(buf.Bytes()), sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

// TestPrivateTorrents: with the private setting, every torrent (one file,
// several, digest, glob; every format) has "private" 1 as the last key of
// its info, where bencoding's sorted order puts it, and is otherwise the
// golden torrent: without the flag, its info hashes are the reference's.
// The info hash, recomputed from the bytes, names the file and is on the
// tracker's whitelist, with the v2 one of a hybrid torrent; the public
// hashes are not.
func TestPrivateTorrents(t *testing.T) {
	fixtures := map[torrent.Format]*fixture{}
	lists := map[torrent.Format]string{}
	for _, format := range []torrent.Format{torrent.Pkgtorrent, torrent.BEP47, torrent.Hybrid} {
		lists[format] = filepath.Join(t.TempDir(), "whitelist")
		fixtures[format] = newFixture(t, func(c *config.Config) {
			c.Format, c.Private, c.TrackerWhitelist = format, true, lists[format]
		})
	}
	for _, c := range privateCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := fixtures[c.format]
			f.t = t
			method := http.MethodGet
			if c.form != nil {
				method = http.MethodPost
			}
			w := f.do(method, c.target, c.form)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
			}
			body := w.Body.Bytes()
			m := decodeTorrent(t, body)
			info := rawValue(t, body, "info")
			if m.info["private"] != int64(1) {
				t.Errorf("info private = %#v, want 1", m.info["private"])
			}
			keys := dictKeys(t, info)
			if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) || keys[len(keys)-1] != "private" {
				t.Errorf("info keys %q: want them sorted, each once, private last", keys)
			}
			v1, v2 := publicHashes(t, info)
			if v1 != c.v1 {
				t.Errorf("info hash without private = %s, want the golden %s", v1, c.v1)
			}
			if c.v2 != "" && v2 != c.v2 {
				t.Errorf("v2 info hash without private = %s, want the golden %s", v2, c.v2)
			}
			if m.infoHash == c.v1 {
				t.Errorf("the private torrent has the public info hash %s", c.v1)
			}
			if got, want := w.Header().Get("Content-Disposition"), "attachment; filename="+m.infoHash+".torrent"; got != want {
				t.Errorf("Content-Disposition = %q, want %q", got, want)
			}
			listed := whitelisted(t, lists[c.format])
			want := []string{m.infoHash}
			if c.format == torrent.Hybrid {
				s := sha256.Sum256(info)
				want = append(want, hex.EncodeToString(s[:20]))
			}
			for _, h := range want {
				if !slices.Contains(listed, h) {
					t.Errorf("whitelist lacks the private info hash %s", h)
				}
			}
			if slices.Contains(listed, c.v1) {
				t.Errorf("whitelist lists the public info hash %s", c.v1)
			}
			verifyPieces(t, f.root, "torrent_service", m)
		})
	}
}

// TestPrivateSettingChange: processes with and without the private
// setting over one cache (a restart after the setting changed, or two
// configurations side by side) each answer with their own torrents,
// whichever built the info cache entry last: a digest GET, a path and a
// glob, torrent and magnet link; no file is hashed again.
func TestPrivateSettingChange(t *testing.T) {
	public := newFixture(t, nil)
	private := &fixture{t: t, root: public.root, cache: public.cache, logs: new(bytes.Buffer), svc: public.svc}
	private.restart(func(c *config.Config) { c.Private = true })
	const mount = "http://mirror.test/yum/torrent_service/"
	paths := []string{pkg("one-1.0-1.noarch.rpm"), pkg("several-2.5-1.x86_64.rpm")}
	targets := []string{
		mount + "single/yum/iso/boot.iso",
		mount + "single/yum/el9/x86_64/Packages/p*.rpm",
		mount + "digest/" + digestOf(paths),
	}
	// hashes returns the info hash of each target's torrent and magnet
	// link from f, checking the private flag.
	hashes := func(f *fixture, wantPrivate bool) []string {
		t.Helper()
		var got []string
		for _, target := range targets {
			w := f.get(target, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
			}
			m := decodeTorrent(t, w.Body.Bytes())
			if _, ok := m.info["private"]; ok != wantPrivate {
				t.Errorf("GET %s: private %v in the info, want %v", target, m.info["private"], wantPrivate)
			}
			link := strings.Replace(target, "/single/", "/magnet/", 1)
			if link == target {
				link += "?format=magnet" // a digest
			}
			magnet := f.get(link, nil)
			if btih := "magnet:?xt=urn:btih:" + m.infoHash + "&"; !strings.HasPrefix(magnet.Body.String(), btih) {
				t.Errorf("magnet link of %s: %q, want it to start with %q", target, magnet.Body, btih)
			}
			got = append(got, m.infoHash)
		}
		return got
	}
	if w := public.post(paths...); w.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	pub := hashes(public, false)
	priv := hashes(private, true)
	for i := range pub {
		if pub[i] == priv[i] {
			t.Errorf("%s: the same info hash %s with and without private", targets[i], pub[i])
		}
	}
	for round := range 2 {
		if got := hashes(public, false); !slices.Equal(got, pub) {
			t.Errorf("round %d: public info hashes %q, want %q", round, got, pub)
		}
		if got := hashes(private, true); !slices.Equal(got, priv) {
			t.Errorf("round %d: private info hashes %q, want %q", round, got, priv)
		}
	}
	if hashed, _, _ := private.stats(); hashed != 0 {
		t.Errorf("the private process hashed %d bytes, want none: the piece cache serves both", hashed)
	}
}
