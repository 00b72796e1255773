package agent

import (
	"bytes"
	"crypto/sha1"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestSeedingAndEviction: a finished torrent is stored after its
// seeding time (in the client, with storedPeers connections); past
// stored-seeds the least recently used stored torrent leaves the swarm
// and its file stays; past store-size the least recently used finished
// file goes first; a file a request is reading is never removed.
func TestSeedingAndEviction(t *testing.T) {
	root := t.TempDir()
	names := []string{"a-1-1.noarch.rpm", "b-1-1.noarch.rpm", "c-1-1.noarch.rpm"}
	want := map[string][]byte{}
	for _, n := range names {
		want[n] = writeRandom(t, root, pkgDir+n, 2<<20)
	}
	m := startMirror(t, root)
	store := t.TempDir()
	a := startAgent(t, store, []string{m.base}, func(c *settings.Config) {
		c.StoreSize = 5 << 20 // two of the three files
		c.SeedMin, c.SeedMax = time.Minute, time.Hour
		c.StoredSeeds = 1
	})
	sw := a.swarm
	items := map[string]*item{}
	for _, n := range names[:2] {
		if _, got := get(t, a.url(m.base+"/"+pkgDir+n)); !bytes.Equal(got, want[n]) {
			t.Fatalf("%s differs from the mirror's", n)
		}
		sw.mu.Lock()
		for _, it := range sw.items {
			items[it.name] = it
		}
		sw.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // distinct last uses
	}
	file := func(n string) string {
		return filepath.Join(store, "data", items[n].ih.HexString(), n)
	}

	// Seeding time: between seed-min and seed-max from the request on.
	sw.mu.Lock()
	it := items[names[0]]
	seed := it.seedUntil.Sub(it.lastUsed)
	sw.mu.Unlock()
	if seed < time.Minute-time.Second || seed > time.Hour+time.Second {
		t.Errorf("seeding time %v, want between seed-min and seed-max", seed)
	}
	// Past it, both are stored; one stored torrent stays in the swarm,
	// the most recently used, with storedPeers connections, and the other
	// leaves it; its file stays.
	sw.tidy(time.Now().Add(2 * time.Hour))
	sw.mu.Lock()
	dropped := it.t == nil
	kept := items[names[1]]
	stored := kept.t != nil && kept.stored
	var maxConns int
	if kept.t != nil {
		maxConns = kept.t.SetMaxEstablishedConns(storedPeers)
	}
	sw.mu.Unlock()
	if !dropped {
		t.Errorf("%s, the least recently used of two stored torrents, is still in the swarm past stored-seeds (1)", names[0])
	}
	if !stored || maxConns != storedPeers {
		t.Errorf("%s past its seeding time: in the client and stored %v, at most %d connections; want stored, at most %d", names[1], stored, maxConns, storedPeers)
	}
	if _, err := os.Stat(file(names[0])); err != nil {
		t.Errorf("a dropped torrent's file is gone: %v", err)
	}

	// A request holds b; c's download makes three files in a store of
	// two: a, the least recently used, is evicted, b (being read) not.
	sw.mu.Lock()
	items[names[1]].users++
	sw.mu.Unlock()
	if _, got := get(t, a.url(m.base+"/"+pkgDir+names[2])); !bytes.Equal(got, want[names[2]]) {
		t.Fatalf("%s differs from the mirror's", names[2])
	}
	sw.tidy(time.Now())
	if _, err := os.Stat(file(names[0])); !os.IsNotExist(err) {
		t.Errorf("%s, the least recently used, was not evicted (%v)", names[0], err)
	}
	if _, err := os.Stat(file(names[1])); err != nil {
		t.Errorf("%s, being read, was evicted: %v", names[1], err)
	}
	if n := sw.Status().Totals.Evicted; n != 1 {
		t.Errorf("evicted %d torrents, want 1", n)
	}
	sw.mu.Lock()
	items[names[1]].users--
	sw.mu.Unlock()
}

// TestSeedTimeSpread: yum-torrent's spread, min + (max-min)(1-sqrt(2s-s^2))
// with s from SHA-1(host name + info hash), recomputed here for a few
// torrents: the same host and torrent always give the same time, and
// the times stay within the bounds.
func TestSeedTimeSpread(t *testing.T) {
	s := &Swarm{cfg: settings.Default(), hostname: "host1.example.org"}
	s.cfg.SeedMin, s.cfg.SeedMax = 15*time.Minute, 24*time.Hour
	var ih metainfo.Hash
	for i := range 50 {
		ih[0], ih[19] = byte(i), byte(i*7)
		got := s.seedTime(ih)
		h := sha1Sum([]byte("host1.example.org" + ih.HexString()))
		x := float64(uint32(h[0])<<24|uint32(h[1])<<16|uint32(h[2])<<8|uint32(h[3])) / (1 << 32)
		want := 15*time.Minute + time.Duration((1-math.Sqrt(2*x-x*x))*float64(24*time.Hour-15*time.Minute))
		if d := got - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("seed time of %s = %v, want %v", ih.HexString(), got, want)
		}
		if got < s.cfg.SeedMin || got > s.cfg.SeedMax {
			t.Errorf("seed time %v outside [%v, %v]", got, s.cfg.SeedMin, s.cfg.SeedMax)
		}
	}
}

func sha1Sum(b []byte) [20]byte { return sha1.Sum(b) }
