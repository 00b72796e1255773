package agent

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

const pkgDir = "yum/el9/x86_64/Packages/"

// TestPackageThroughTorrent: a package comes through the mirror's
// torrent, byte for byte, and its bytes are counted as fetched from the
// mirror into the swarm (no peer is there).
func TestPackageThroughTorrent(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"big-1.0-1.noarch.rpm", 3<<20+12345)
	m := startMirror(t, root)
	a := startAgent(t, t.TempDir(), []string{m.base + "/yum/"})

	resp, got := get(t, a.url(m.base+"/"+pkgDir+"big-1.0-1.noarch.rpm"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("got %d bytes that differ from the mirror's %d", len(got), len(want))
	}
	st := a.swarm.Status()
	if st.Totals.FromOrigin != int64(len(want)) || st.Totals.Passthrough != 0 || st.Totals.FromFallback != 0 {
		t.Errorf("totals %+v: want all %d bytes from origin into the swarm", st.Totals, len(want))
	}
	if len(st.Torrents) != 1 || st.Torrents[0].State != "seeding" || st.Torrents[0].Completed != int64(len(want)) {
		t.Errorf("torrents %+v: want one, seeding, complete", st.Torrents)
	}

	// A range, as librepo asks when it resumes: from the store.
	resp, got = get(t, a.url(m.base+"/"+pkgDir+"big-1.0-1.noarch.rpm"), "Range", "bytes=1048570-1048590")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want[1048570:1048591]) {
		t.Errorf("range: status %d, %d bytes; want 206 and bytes 1048570-1048590", resp.StatusCode, len(got))
	}
	if n := a.swarm.Status().Totals.FromOrigin; n != int64(len(want)) {
		t.Errorf("origin bytes after the range request = %d, want still %d", n, len(want))
	}

	// A file that is not a package passes through, unless the request
	// asks for its torrent (pkgtorrent-agent fetch -torrent).
	iso := writeRandom(t, root, "yum/iso/boot.iso", 2<<20+1)
	isoURL := a.url(m.base + "/yum/iso/boot.iso")
	if _, got := get(t, isoURL); !bytes.Equal(got, iso) || a.swarm.Status().Totals.Passthrough != int64(len(iso)) {
		t.Errorf("boot.iso without the header: want it passed through whole")
	}
	if _, got := get(t, isoURL, TorrentHeader, "1"); !bytes.Equal(got, iso) {
		t.Errorf("boot.iso with %s: 1: bytes differ from the mirror's", TorrentHeader)
	}
	if n := a.swarm.Status().Totals.FromOrigin; n != int64(len(want)+len(iso)) {
		t.Errorf("origin bytes after boot.iso through its torrent = %d, want %d", n, len(want)+len(iso))
	}
}

// TestPassThrough: files that are not packages, and packages of a
// mirror without the service, are the mirror's bytes and headers.
func TestPassThrough(t *testing.T) {
	root := t.TempDir()
	md := writeRandom(t, root, "yum/el9/x86_64/repodata/repomd.xml", 4000)
	m := startMirror(t, root)
	// A plain web server, without pkgtorrent-service: its packages pass
	// through too.
	plainRoot := t.TempDir()
	rpm := writeRandom(t, plainRoot, pkgDir+"plain-1-1.noarch.rpm", 200000)
	plain := httptest.NewServer(http.FileServer(http.Dir(plainRoot)))
	defer plain.Close()
	a := startAgent(t, t.TempDir(), []string{m.base, plain.URL})

	resp, got := get(t, a.url(m.base+"/yum/el9/x86_64/repodata/repomd.xml"))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, md) {
		t.Errorf("repomd.xml: status %d, %d bytes; want 200 and the mirror's %d", resp.StatusCode, len(got), len(md))
	}
	resp, got = get(t, a.url(m.base+"/yum/el9/x86_64/repodata/repomd.xml"), "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, md[10:20]) {
		t.Errorf("repomd.xml range: status %d, %q; want 206 and %q", resp.StatusCode, got, md[10:20])
	}
	resp, notFound := get(t, a.url(m.base+"/yum/el9/x86_64/repodata/nope.xml"))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing file: status %d, want the mirror's 404", resp.StatusCode)
	}
	resp, got = get(t, a.url(plain.URL+"/"+pkgDir+"plain-1-1.noarch.rpm"))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, rpm) {
		t.Errorf("package without a service: status %d, %d bytes; want 200 and the mirror's %d", resp.StatusCode, len(got), len(rpm))
	}
	st := a.swarm.Status().Totals
	if want := int64(len(md) + 10 + len(notFound) + len(rpm)); st.Passthrough != want || st.FromOrigin != 0 {
		t.Errorf("totals %+v: want passthrough %d and nothing into the swarm", st, want)
	}
}

// TestNotAnOpenProxy: only allowed mirrors are fetched; malformed
// requests get 400 with one line.
func TestNotAnOpenProxy(t *testing.T) {
	root := t.TempDir()
	writeRandom(t, root, pkgDir+"a-1-1.noarch.rpm", 1000)
	m := startMirror(t, root)
	reposDir := t.TempDir()
	// The repo file names the mirror under /yum/el9/ only, with dnf
	// variables, after the agent's own URL.
	repo := "[el9]\nname=el9\nbaseurl=http://127.0.0.1:7881/m/http/" + strings.TrimPrefix(m.base, "http://") + "/yum/el9/$basearch/\n" +
		"        " + m.base + "/yum/el9/$basearch/\ngpgcheck=0\n"
	if err := os.WriteFile(filepath.Join(reposDir, "el9.repo"), []byte(repo), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, t.TempDir(), nil, func(c *settings.Config) { c.ReposDir = reposDir })
	host := strings.TrimPrefix(m.base, "http://")
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/m/http/" + host + "/" + pkgDir + "a-1-1.noarch.rpm", 200},
		{"/m/http/" + host + "/yum/el8/x86_64/repodata/repomd.xml", 403},
		{"/m/http/" + host + "/yum/el9-other/x", 403},
		{"/m/https/" + host + "/" + pkgDir + "a-1-1.noarch.rpm", 403},
		{"/m/http/example.org/" + pkgDir + "a-1-1.noarch.rpm", 403},
		{"/m/http/127.0.0.1:7881/m/http/" + host + "/yum/el9/", 403},
		{"/m/ftp/" + host + "/" + pkgDir, 400},
		{"/m/http/user@" + host + "/" + pkgDir, 400},
		{"/m/http/" + host + "/yum/el9/x86_64/%2e%2e/%2e%2e/el8/x", 400},
		{"/m/http/" + host, 400},
		{"/other", 404},
	} {
		resp, body := get(t, a.srv.URL+c.path)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s: status %d (%q), want %d", c.path, resp.StatusCode, body, c.status)
			continue
		}
		if c.status != 200 && bytes.Count(body, []byte("\n")) != 1 {
			t.Errorf("GET %s: body %q, want one line", c.path, body)
		}
	}
}

// TestRestartHashesTheStore: a stored file corrupted while the agent was
// stopped is hashed at start-up, not served, and fetched again.
func TestRestartHashesTheStore(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"c-1-1.noarch.rpm", 2<<20+777)
	m := startMirror(t, root)
	store := t.TempDir()
	u := m.base + "/" + pkgDir + "c-1-1.noarch.rpm"
	a := startAgent(t, store, []string{m.base})
	if _, got := get(t, a.url(u)); !bytes.Equal(got, want) {
		t.Fatal("first download differs from the mirror's file")
	}
	ih := a.swarm.Status().Torrents[0].InfoHash
	a.stop()

	stored := filepath.Join(store, "data", ih, "c-1-1.noarch.rpm")
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatal("the store's file differs from the mirror's")
	}
	b[1<<20+5] ^= 0xff // in the second piece
	if err := os.WriteFile(stored, b, 0o644); err != nil {
		t.Fatal(err)
	}

	a = startAgent(t, store, []string{m.base})
	a.swarm.mu.Lock()
	var verified []chan struct{}
	for _, it := range a.swarm.items {
		verified = append(verified, it.verified)
	}
	a.swarm.mu.Unlock()
	if len(verified) != 1 {
		t.Fatalf("the restarted agent has %d torrents, want the one of its store", len(verified))
	}
	<-verified[0]
	if st := a.swarm.Status().Torrents[0]; st.Completed != int64(len(want))-(1<<20) {
		t.Errorf("after hashing, completed = %d, want %d (all but the corrupted piece)", st.Completed, len(want)-(1<<20))
	}
	if _, got := get(t, a.url(u)); !bytes.Equal(got, want) {
		t.Fatal("download after the restart differs from the mirror's file")
	}
	if n := a.swarm.Status().Totals.FromOrigin; n != 1<<20 {
		t.Errorf("fetched %d bytes from the mirror after the restart, want the one bad piece (%d)", n, 1<<20)
	}
}

// TestServiceDependencies: the agent's engine stays out of the service's
// module: its go.mod requires what it did.
func TestServiceDependencies(t *testing.T) {
	b, err := os.ReadFile("../../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"github.com/jackpal/bencode-go": true, "github.com/gobwas/glob": true, "golang.org/x/sys": true}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "require" && f[1] == "(":
			in = true
		case in && len(f) > 0 && f[0] == ")":
			in = false
		case in && len(f) >= 2, len(f) >= 3 && f[0] == "require":
			mod := f[0]
			if f[0] == "require" {
				mod = f[1]
			}
			if !allowed[mod] {
				t.Errorf("the service's go.mod requires %s: the service keeps its small dependency set", mod)
			}
		}
	}
}
