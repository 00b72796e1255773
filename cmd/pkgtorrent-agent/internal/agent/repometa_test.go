package agent

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// primaryXML is a primary.xml as createrepo_c writes it, for packages
// at Packages/{name} with the given sizes and SHA-256s.
func primaryXML(pkgs map[string]fileMeta) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"%d\">\n", len(pkgs))
	for name, m := range pkgs {
		fmt.Fprintf(&b, `<package type="rpm">
  <name>%s</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1" rel="1"/>
  <checksum type="sha256" pkgid="YES">%s</checksum>
  <summary>test</summary>
  <size package="%d" installed="100" archive="200"/>
  <location href="Packages/%s"/>
  <format><rpm:license>MIT</rpm:license></format>
</package>
`, strings.SplitN(name, "-", 2)[0], hex.EncodeToString(m.sha256), m.size, name)
	}
	b.WriteString("</metadata>\n")
	return []byte(b.String())
}

func gz(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestRepoMetadata: the agent reads the primary.xml dnf fetches through
// it, and checks packages against it: a torrent of another size is not
// used (the request passes through, nothing downloads), a file whose
// SHA-256 differs loses its last bytes, and a prefetch that disagrees
// with it is refused, without any effect on dnf's own downloads.
func TestRepoMetadata(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{}
	meta := map[string]fileMeta{}
	for i, n := range []string{"good-1-1.noarch.rpm", "digest-1-1.noarch.rpm", "size-1-1.noarch.rpm", "nodigest-1-1.noarch.rpm"} {
		files[n] = writeRandom(t, root, pkgDir+n, 1<<20+i*777)
		sum := sha256.Sum256(files[n])
		meta[n] = fileMeta{int64(len(files[n])), sum[:]}
	}
	other := sha256.Sum256([]byte("another file"))
	meta["digest-1-1.noarch.rpm"] = fileMeta{meta["digest-1-1.noarch.rpm"].size, other[:]}
	meta["size-1-1.noarch.rpm"] = fileMeta{meta["size-1-1.noarch.rpm"].size + 1, meta["size-1-1.noarch.rpm"].sha256}
	repo := strings.TrimSuffix(pkgDir, "Packages/")
	primary := gz(t, primaryXML(meta))
	primaryPath := filepath.Join(root, repo, "repodata", "0123abcd-primary.xml.gz")
	if err := os.MkdirAll(filepath.Dir(primaryPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(primaryPath, primary, 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMirror(t, root)
	a := startAgent(t, t.TempDir(), []string{m.base})
	h := a.srv.Config.Handler.(*Handler)
	pkgURL := func(n string) string { return m.base + "/" + pkgDir + n }

	// dnf's metadata download, passed through unchanged.
	resp, got := get(t, a.url(m.base+"/"+repo+"repodata/0123abcd-primary.xml.gz"))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, primary) {
		t.Fatalf("primary.xml through the agent: status %d, %d bytes; want 200 and the file's %d", resp.StatusCode, len(got), len(primary))
	}
	waitFor(t, "the agent to read primary.xml", func() bool {
		_, ok := h.meta.lookup(pkgURL("good-1-1.noarch.rpm"))
		return ok
	})

	// A prefetch that disagrees with the metadata is refused; one without
	// digest or size takes the metadata's.
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	body, _ := json.Marshal(PrefetchRequest{Packages: []PrefetchPackage{
		{URL: pkgURL("good-1-1.noarch.rpm"), SHA256: sum([]byte("wrong"))},
		{URL: pkgURL("good-1-1.noarch.rpm"), Size: 3},
		{URL: pkgURL("nodigest-1-1.noarch.rpm")},
	}})
	resp, err := http.Post(a.srv.URL+"/prefetch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ans PrefetchAnswer
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if ans.Accepted != 1 || len(ans.Refused) != 2 ||
		!strings.Contains(ans.Refused[0].Reason, "differs from the repo metadata") ||
		!strings.Contains(ans.Refused[1].Reason, "differs from the repo metadata") {
		t.Errorf("prefetch answer %+v: want the package without digest accepted, the two that disagree with the metadata refused", ans)
	}
	waitFor(t, "the prefetched download", func() bool {
		for _, ts := range a.swarm.Status().Torrents {
			if ts.Name == "nodigest-1-1.noarch.rpm" && ts.Completed == ts.Length {
				return true
			}
		}
		return false
	})

	for _, n := range []string{"good-1-1.noarch.rpm", "nodigest-1-1.noarch.rpm", "size-1-1.noarch.rpm"} {
		resp, got := get(t, a.url(pkgURL(n)))
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, files[n]) {
			t.Errorf("%s: status %d, %d bytes; want 200 and the mirror's %d", n, resp.StatusCode, len(got), len(files[n]))
		}
	}
	resp, err = http.Get(a.url(pkgURL("digest-1-1.noarch.rpm")))
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) >= len(files["digest-1-1.noarch.rpm"]) {
		t.Errorf("file whose SHA-256 differs from the metadata's: %d of %d bytes, error %v; want a short answer",
			len(got), len(files["digest-1-1.noarch.rpm"]), err)
	}
	// The one of another size never became a torrent.
	for _, ts := range a.swarm.Status().Torrents {
		if ts.Name == "size-1-1.noarch.rpm" {
			t.Errorf("size-1-1.noarch.rpm is in the swarm (%+v); want it passed through, nothing downloaded", ts)
		}
	}
}

// TestPrimaryFormats: primary.xml is recognised by its name in
// repodata/, and read plain, gzip'd or zstd'd, with xml:base locations.
func TestPrimaryFormats(t *testing.T) {
	for p, want := range map[string]string{
		"/r/repodata/primary.xml":          "",
		"/r/repodata/abc-primary.xml.gz":   "gz",
		"/r/repodata/abc-primary.xml.zst":  "zst",
		"/r/repodata/abc-primary.xml.bz2":  "bz2",
		"/r/repodata/abc-filelists.xml.gz": "no",
		"/r/Packages/primary.xml.gz":       "no",
	} {
		c, ok := primaryCompression(p)
		if (want == "no") == ok || (ok && c != want) {
			t.Errorf("primaryCompression(%q) = %q, %v; want %q", p, c, ok, want)
		}
	}
	sum := sha256.Sum256([]byte("x"))
	xmlText := primaryXML(map[string]fileMeta{"a-1-1.noarch.rpm": {42, sum[:]}})
	based := bytes.Replace(xmlText, []byte(`<location href=`), []byte(`<location xml:base="http://other.example.org/base" href=`), 1)
	var zst bytes.Buffer
	zw, _ := zstd.NewWriter(&zst)
	zw.Write(xmlText)
	zw.Close()
	for _, tc := range []struct {
		comp string
		data []byte
		want string
	}{
		{"", xmlText, "http://mirror.example.org/r/Packages/a-1-1.noarch.rpm"},
		{"gz", gz(t, xmlText), "http://mirror.example.org/r/Packages/a-1-1.noarch.rpm"},
		{"zst", zst.Bytes(), "http://mirror.example.org/r/Packages/a-1-1.noarch.rpm"},
		{"", based, "http://other.example.org/base/Packages/a-1-1.noarch.rpm"},
	} {
		f := filepath.Join(t.TempDir(), "primary")
		os.WriteFile(f, tc.data, 0o644)
		rm := newRepoMeta()
		if n, err := rm.learnFile(f, tc.comp, "http://Mirror.example.org/r/repodata/abc-primary.xml"); n != 1 || err != nil {
			t.Errorf("%q: learned %d, %v; want 1 package", tc.comp, n, err)
			continue
		}
		got, ok := rm.lookup(tc.want)
		if !ok || got.size != 42 || !bytes.Equal(got.sha256, sum[:]) {
			t.Errorf("%q: lookup(%s) = %+v, %v; want size 42 and the digest", tc.comp, tc.want, got, ok)
		}
	}
}
