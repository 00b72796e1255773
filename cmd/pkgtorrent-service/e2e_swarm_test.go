package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// e2eTestSwarm proves the announce list and the info hash with a real
// swarm: opentracker on loopback, which (as Debian builds it) tracks only
// the info hashes on its whitelist; one libtorrent client seeding the
// files it already has; and a second one, which is given no web seed, that
// must get every piece from the first, found through the tracker the
// service put in the torrent.
func e2eTestSwarm(t *testing.T) {
	python := e2e.Need(t, "libtorrent")
	e2e.Need(t, "opentracker")
	mirror := e2eMirror(t)
	trackerPort := e2e.Port(t)
	announce := fmt.Sprintf("http://127.0.0.1:%d/announce", trackerPort)

	s := e2eNginx(t, e2eServerOpts{mirror: mirror, settings: []string{"format = bep47"}, trackers: []string{announce}})
	tt := s.yumFlow(t, e2eSampleRPMs())
	if !slices.Equal(tt.announce, []string{announce}) {
		t.Fatalf("announce-list %q, want the trackers file's [%q]", tt.announce, announce)
	}
	dir := t.TempDir()
	torrent := filepath.Join(dir, "packages.torrent")
	e2e.WriteFile(t, torrent, string(tt.raw))

	e2e.StartOpentracker(t, e2e.Node{}, trackerPort, []string{tt.infoHash})

	// The seeder has the files in place, as a mirror (or a host that
	// downloaded them before) has.
	seedDir := filepath.Join(dir, "seeder")
	var wanted int64
	for _, f := range tt.realFiles(e2eService) {
		rel := tt.name + "/" + f
		e2eCopy(t, filepath.Join(mirror, filepath.FromSlash(rel)), filepath.Join(seedDir, filepath.FromSlash(rel)))
		wanted += e2eMirrorFile(t, rel)
	}
	seedOut := filepath.Join(dir, "seeder.out")
	out, err := os.Create(seedOut)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	seedPort := e2e.Port(t)
	seedCmd := exec.Command(python, "testdata/ltclient.py", "seed", "--torrent", torrent, "--save", seedDir,
		"--port", strconv.Itoa(seedPort), "--timeout", "60")
	seedCmd.Stdout = out
	seeder := e2e.Start(t, "libtorrent seeder", seedCmd, filepath.Join(dir, "seeder.log"))
	e2e.ShowLogOnFailure(t, "libtorrent seeder report", seedOut)
	var seeding *e2eLtResult
	e2e.Wait(t, "the seeder checks its files and announces", 60*time.Second, func() error {
		b, err := os.ReadFile(seedOut)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), `"event"`) {
			return errors.New("no report yet")
		}
		seeding, err = e2eParseLt(b)
		return err
	}, seeder)
	if seeding.Event != "seeding" {
		t.Fatalf("the seeder did not get to seed: %s", seeding.rawOutput)
	}
	if seeding.InfoHash != tt.infoHash {
		t.Errorf("the seeder reports info hash %s, the torrent's is %s", seeding.InfoHash, tt.infoHash)
	}

	// The leecher: no web seed, no DHT, no local discovery; only the
	// tracker can lead it to the seeder. Its download is slowed to 4 MiB/s
	// so that its report sees the peer while it is connected.
	leechDir := filepath.Join(dir, "leecher")
	res := e2eLibtorrent(t, python, "download", torrent, leechDir, "--no-web-seeds", "--rate-limit", strconv.Itoa(4<<20))
	if res.InfoHash != tt.infoHash {
		t.Errorf("the leecher reports info hash %s, the torrent's is %s", res.InfoHash, tt.infoHash)
	}
	if len(res.URLSeeds) != 0 || len(res.WebSeedsInTorrent) != 0 {
		t.Errorf("the leecher had web seeds %q %q, want none", res.URLSeeds, res.WebSeedsInTorrent)
	}
	if !slices.Equal(res.Trackers, []string{announce}) || res.TrackerReplies == 0 {
		t.Errorf("the leecher's trackers %q with %d replies, want [%q] with replies", res.Trackers, res.TrackerReplies, announce)
	}
	found := make(map[string]bool)
	for _, p := range res.Peers {
		// A peer comes from the tracker's reply, or connects to us
		// because the tracker gave it our address.
		ok := (slices.Contains(p.Sources, "tracker") || p.Incoming) &&
			!slices.Contains(p.Sources, "dht") && !slices.Contains(p.Sources, "lsd")
		if !p.Incoming && p.Endpoint != net.JoinHostPort("127.0.0.1", strconv.Itoa(seedPort)) {
			t.Errorf("the leecher connected to %s, which is not the seeder (port %d)", p.Endpoint, seedPort)
		}
		if p.Kind != "peer" || !ok {
			t.Errorf("the leecher's peer %s: %s, sources %q, incoming %v; want BitTorrent peers found through the tracker", p.Endpoint, p.Kind, p.Sources, p.Incoming)
		}
		found[p.Endpoint] = true
	}
	// Every block came from the seeder, there being no other source: the
	// 16 KiB blocks that hold file data (libtorrent does not request the
	// blocks that are all padding; it makes those up, as BEP 47 allows).
	blocks, blockBytes := e2eBlocks(tt, 16<<10)
	got := 0
	for peer, n := range res.BlocksFrom {
		if !found[peer] {
			t.Errorf("the leecher got %d blocks from %s, not a peer it found through the tracker (%+v)", n, peer, res.Peers)
		}
		got += n
	}
	if got != blocks {
		t.Errorf("the leecher got %d blocks from peers (%v), want all %d blocks with file data", got, res.BlocksFrom, blocks)
	}
	if res.TotalWanted != wanted || res.TotalPayloadDownload-res.TotalRedundantBytes != blockBytes {
		t.Errorf("the leecher wanted %d bytes and downloaded %d (%d redundant) from peers; want %d bytes of files in %d bytes of blocks",
			res.TotalWanted, res.TotalPayloadDownload, res.TotalRedundantBytes, wanted, blockBytes)
	}
	e2eSameFiles(t, "libtorrent leecher", tt, leechDir)
	t.Logf("leecher: %d payload bytes in %d blocks from %+v for %d bytes of files; libtorrent %s", res.TotalPayloadDownload, got, res.Peers, wanted, res.Version)
}

// e2eBlocks returns how many blocks of size block hold file data (not
// only padding) in a multi-file torrent, and how many bytes they add up to.
func e2eBlocks(tt *e2eTorrent, block int64) (n int, bytes int64) {
	type span struct{ from, to int64 }
	var data []span
	var total int64
	for _, f := range tt.files {
		if !strings.HasPrefix(f.path, e2eService+"/nullfile/") && f.length > 0 {
			data = append(data, span{total, total + f.length})
		}
		total += f.length
	}
	for b := int64(0); b < total; b += block {
		end := min(b+block, total)
		for _, d := range data {
			if d.from < end && b < d.to {
				n++
				bytes += end - b
				break
			}
		}
	}
	return n, bytes
}

// e2eCopy copies a file, creating the folders above it.
func e2eCopy(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
