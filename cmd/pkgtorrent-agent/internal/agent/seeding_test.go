package agent

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestSeedDialsNoOne: a finished torrent dials none of the peers its
// tracker names (the peers that want its pieces dial it), while one
// that lacks pieces dials them at once. Before the engine's patch 6
// every finished torrent dialed every peer of each announce, in a fleet
// mostly other seeds, dropped as mutually complete after the handshake,
// and announced again each minute to dial them again: BenchmarkIdleSeeding
// measured 2.48 % of a core per agent for 3 agents seeding 500 torrents,
// 0.048 % after.
func TestSeedDialsNoOne(t *testing.T) {
	stores, m, hashes := finishedStores(t, 2, 3<<20, 1)
	store := stores[0]
	// The second torrent's file lacks its second half: after the
	// restart it is downloading.
	ents, err := os.ReadDir(filepath.Join(dataDir(store), hashes[1]))
	if err != nil || len(ents) != 1 {
		t.Fatalf("the store's data of %s: %v, %v", hashes[1], ents, err)
	}
	if err := os.Truncate(filepath.Join(dataDir(store), hashes[1], ents[0].Name()), 3<<19); err != nil {
		t.Fatal(err)
	}
	// A peer for each torrent: each counts the connections it is
	// dialed.
	var dialed [2]atomic.Int32
	var peers [2]netip.AddrPort
	for i := range peers {
		ln, err := net.Listen("tcp", e2e.Addr(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		peers[i] = netip.MustParseAddrPort(ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				dialed[i].Add(1)
				t.Cleanup(func() { c.Close() })
			}
		}()
	}
	// The tracker answers each torrent with its peer once both torrents
	// are hashed after the start (release), so that the finished one is
	// finished when it learns of its peer.
	release := make(chan struct{})
	trackerLn, err := net.Listen("tcp", e2e.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	tracker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := -1
		for j, h := range hashes {
			if r.URL.Query().Get("info_hash") == string(metainfo.NewHashFromHex(h).Bytes()) {
				i = j
			}
		}
		if i < 0 {
			http.Error(w, "unknown torrent", http.StatusNotFound)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		peer := binary.BigEndian.AppendUint16(peers[i].Addr().AsSlice(), peers[i].Port())
		fmt.Fprintf(w, "d8:intervali1800e5:peers%d:%se", len(peer), peer)
	})}
	go tracker.Serve(trackerLn)
	t.Cleanup(func() { tracker.Close() })
	a := startAgent(t, store, []string{m.base}, func(c *settings.Config) {
		c.Trackers = []string{"http://" + trackerLn.Addr().String() + "/announce"}
	})
	waitSeeding(t, a, 1)
	a.swarm.mu.Lock()
	verified := a.swarm.items[metainfo.NewHashFromHex(hashes[1])].verified
	a.swarm.mu.Unlock()
	<-verified
	close(release)
	waitFor(t, "the downloading torrent to dial its peer", func() bool { return dialed[1].Load() > 0 })
	// The engine dials the peers of an announce's answer as it takes
	// them; the two answers came together.
	time.Sleep(2 * time.Second)
	if n := dialed[0].Load(); n != 0 {
		t.Errorf("the finished torrent dialed its peer %d times, want never", n)
	}
}

// TestLateHost: a host that asks for a file after the seeding time of
// the only host that has it (seed-min = seed-max = 1 s) gets it from
// that host, which keeps it announced as a stored torrent, also after a
// restart of that host; nothing comes from the mirror. With stored-seeds
// 0 the first host leaves the swarm at its seeding time, and the late
// host takes the whole file from the mirror.
func TestLateHost(t *testing.T) {
	for _, c := range []struct {
		name        string
		storedSeeds int
		restart     bool
	}{
		{"stored", 10, false},
		{"stored after a restart", 10, true},
		{"stored-seeds 0", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			want := writeRandom(t, root, pkgDir+"late-1-1.noarch.rpm", 3<<20+777)
			m, _ := startTrackedMirror(t, root, nil, "late-1-1.noarch.rpm")
			u := m.base + "/" + pkgDir + "late-1-1.noarch.rpm"
			early := func(c2 *settings.Config) {
				c2.SeedMin, c2.SeedMax = time.Second, time.Second
				c2.StoredSeeds = c.storedSeeds
			}
			// Patient: where the bytes come from, not how soon (see
			// TestPeersServe).
			patient := func(c *settings.Config) { c.Stall = 30 * time.Second }
			store := t.TempDir()
			a := startAgent(t, store, []string{m.base}, early, patient)
			getWhole(t, "agent a", a.url(u), want)
			if st := a.swarm.Status().Totals; st.FromOrigin != int64(len(want)) {
				t.Fatalf("agent a: %+v, want the whole file from the mirror", st)
			}
			// Past its seeding time: the janitor's round makes it stored,
			// in the client or out of it.
			inClient := c.storedSeeds > 0
			waitFor(t, "agent a's torrent past its seeding time", func() bool {
				a.swarm.mu.Lock()
				defer a.swarm.mu.Unlock()
				for _, it := range a.swarm.items {
					return it.complete && (it.t != nil) == inClient && it.stored == inClient
				}
				return false
			})
			if c.restart {
				a.stop()
				a = startAgent(t, store, []string{m.base}, early, patient)
				waitFor(t, "agent a's stored torrent hashed and in the client again", func() bool {
					a.swarm.mu.Lock()
					defer a.swarm.mu.Unlock()
					for _, it := range a.swarm.items {
						return it.t != nil && it.complete && it.stored
					}
					return false
				})
			}
			if st := a.swarm.Status().Torrents; len(st) != 1 || st[0].State != "stored" {
				t.Fatalf("agent a's torrents %+v, want one, stored", st)
			}
			b := startAgent(t, t.TempDir(), []string{m.base}, patient)
			getWhole(t, "agent b", b.url(u), want)
			sb := b.swarm.Status().Totals
			if inClient && (sb.FromPeers != int64(len(want)) || sb.FromOrigin != 0 || sb.FromFallback != 0) {
				t.Errorf("agent b: %+v, want the whole file from agent a's store and nothing from the mirror", sb)
			}
			if !inClient && (sb.FromOrigin != int64(len(want)) || sb.FromPeers != 0) {
				t.Errorf("agent b: %+v, want the whole file from the mirror (agent a left the swarm)", sb)
			}
		})
	}
}

// TestHashingIsNoAbandonedDownload: a file of the store last used long
// ago, whose pieces are still being hashed after a restart (a store of
// many files, a busy machine), is not taken for a download no one wants:
// the janitor's round leaves it, file and all.
func TestHashingIsNoAbandonedDownload(t *testing.T) {
	stores, m, hashes := finishedStores(t, 1, 3<<20, 1)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(torrentsDir(stores[0]), hashes[0]+".torrent"), old, old); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, stores[0], []string{m.base})
	a.swarm.mu.Lock()
	it := a.swarm.items[metainfo.NewHashFromHex(hashes[0])]
	if it == nil || it.t == nil {
		a.swarm.mu.Unlock()
		t.Fatalf("the stored torrent is not in the client after the start")
	}
	verified := it.verified
	a.swarm.mu.Unlock()
	<-verified
	// As while its file is being hashed: not complete, not verified.
	a.swarm.mu.Lock()
	hashing := make(chan struct{})
	it.verified, it.complete = hashing, false
	a.swarm.mu.Unlock()
	a.swarm.tidy(time.Now())
	a.swarm.mu.Lock()
	kept := a.swarm.items[it.ih] == it
	it.complete = true
	close(hashing)
	a.swarm.mu.Unlock()
	if !kept {
		t.Fatal("the janitor evicted a stored file being hashed, as a download no one wants")
	}
	if _, err := os.Stat(filepath.Join(dataDir(stores[0]), hashes[0])); err != nil {
		t.Errorf("the stored file: %v", err)
	}
}

// TestRestoreStoredSeeds: at start-up, of the files of the store past
// their seeding time, only the stored-seeds most recently used go into
// the client (hashed and announced); the others stay in the store, out
// of it, and one asked for again comes from its stored file.
func TestRestoreStoredSeeds(t *testing.T) {
	stores, m, hashes := finishedStores(t, 3, 1<<20, 1)
	store := stores[0]
	// Last used 3, 2 and 1 hours ago: all past seed-max.
	for i, h := range hashes {
		at := time.Now().Add(-time.Duration(3-i) * time.Hour)
		if err := os.Chtimes(filepath.Join(torrentsDir(store), h+".torrent"), at, at); err != nil {
			t.Fatal(err)
		}
	}
	a := startAgent(t, store, []string{m.base}, func(c *settings.Config) {
		c.SeedMin, c.SeedMax = time.Minute, time.Minute
		c.StoredSeeds = 1
	})
	a.swarm.mu.Lock()
	var in []string
	for _, h := range hashes {
		it := a.swarm.items[metainfo.NewHashFromHex(h)]
		if it == nil {
			t.Errorf("torrent %s of the store is not an item after the start", h)
		} else if it.t != nil {
			in = append(in, h)
		}
	}
	a.swarm.mu.Unlock()
	if len(in) != 1 || in[0] != hashes[2] {
		t.Fatalf("in the client after the start: %v, want only the most recently used, %s", in, hashes[2])
	}
	// The oldest, asked for: from its stored file, nothing from the
	// mirror.
	name := "seed0000-1-1.noarch.rpm"
	want, err := os.ReadFile(filepath.Join(m.root, pkgDir+name))
	if err != nil {
		t.Fatal(err)
	}
	getWhole(t, "the agent", a.url(m.base+"/"+pkgDir+name), want)
	if st := a.swarm.Status().Totals; st.FromOrigin != 0 || st.FromFallback != 0 {
		t.Errorf("totals %+v: want the stored file served, nothing from the mirror", st)
	}
}
