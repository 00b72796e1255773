package agent

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestPrivateTorrents: the torrent of a file of a mirror that needs a
// client certificate (a repo with sslclientcert names it) is shared with
// no peer when peer-network is not set: a peer that connects to the agent
// gets no piece of it, and the agent announces it nowhere (so its store
// keeps it private after a restart). With peer-network set, a peer inside
// the networks gets it; one outside cannot connect (TestPeerNetworks).
// The same file from a mirror without certificate is shared: the test
// can fail.
func TestPrivateTorrents(t *testing.T) {
	root := t.TempDir()
	const name = "c-1-1.noarch.rpm"
	want := writeRandom(t, root, pkgDir+name, 2<<20+77)
	m := startMirror(t, root)
	u := m.base + "/" + pkgDir + name
	for _, c := range []struct {
		name     string
		cert     bool
		networks []string
		shared   bool
	}{
		{"no-certificate", false, nil, true},
		{"certificate", true, nil, false},
		{"certificate-inside-peer-network", true, []string{"127.0.0.0/8"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			reposDir := t.TempDir()
			repo := "[r]\nbaseurl=" + m.base + "/" + pkgDir + "\n"
			if c.cert {
				repo += "sslclientcert=/etc/pki/r/client.pem\nsslclientkey=/etc/pki/r/client.key\n"
			}
			if err := os.WriteFile(filepath.Join(reposDir, "r.repo"), []byte(repo), 0o644); err != nil {
				t.Fatal(err)
			}
			store := t.TempDir()
			a := startAgent(t, store, nil, func(cfg *settings.Config) {
				cfg.ReposDir = reposDir
				cfg.PeerNetworks = c.networks
			})
			getWhole(t, "the agent", a.url(u), want)
			st := a.swarm.Status().Torrents[0]
			ih := metainfo.NewHashFromHex(st.InfoHash)
			a.swarm.mu.Lock()
			it := a.swarm.items[ih]
			private, trackers := it.private, it.trackers
			a.swarm.mu.Unlock()
			if private != c.cert {
				t.Errorf("private = %v, want %v", private, c.cert)
			}
			_, err := os.Stat(privateMark(a.swarm.torrentFile(ih)))
			if marked := err == nil; marked != c.cert {
				t.Errorf("the store marks it private: %v, want %v", marked, c.cert)
			}
			if !c.shared && len(trackers) > 0 {
				t.Errorf("announced to %q, want nowhere", trackers)
			}

			// A peer that knows the agent's address and the torrent.
			mi, err := metainfo.LoadFromFile(a.swarm.torrentFile(ih))
			if err != nil {
				t.Fatal(err)
			}
			peer := peerClient(t)
			pt, err := peer.AddTorrent(mi)
			if err != nil {
				t.Fatal(err)
			}
			pt.DownloadAll()
			pt.AddPeers([]torrent.PeerInfo{{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.swarm.PeerPort()}, Trusted: true}})
			wait := 8 * time.Second
			if !c.shared {
				wait = 3 * time.Second
			}
			deadline := time.Now().Add(wait)
			connected := false
			for time.Now().Before(deadline) && pt.BytesCompleted() < int64(len(want)) {
				// The agent answered: it may close a connection
				// useless to both sides, but not before its handshake.
				st := pt.Stats()
				connected = connected || st.ActivePeers > 0 || st.BytesRead.Int64() > 0
				time.Sleep(50 * time.Millisecond)
			}
			got := pt.BytesCompleted()
			connected = connected || got > 0
			t.Logf("the peer connected: %v; got %d of %d bytes", connected, got, len(want))
			if c.shared && !connected {
				t.Fatalf("the peer never connected to the agent")
			}
			if !c.shared {
				// The engine wants no connection for a complete torrent
				// it may not upload: it refuses the handshake.
				err := handshakeWith(t, a, "127.0.0.1", ih)
				t.Logf("a handshake for the private torrent: %v", err)
				if err == nil {
					t.Errorf("a handshake for the private torrent was accepted, want it refused")
				}
			}
			if c.shared && got != int64(len(want)) {
				t.Errorf("the peer got %d of %d bytes, want all", got, len(want))
			}
			if !c.shared && got != 0 {
				t.Errorf("the peer got %d bytes of a private torrent, want none", got)
			}
		})
	}
}

// peerClient is a plain engine client on 127.0.0.1, a peer of the tests,
// with opts applied to its configuration.
func peerClient(t *testing.T, opts ...func(*torrent.ClientConfig)) *torrent.Client {
	t.Helper()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenHost = func(string) string { return "127.0.0.1" }
	cfg.ListenPort = 0
	cfg.NoDHT = true
	cfg.DisableUTP = true
	cfg.DisableIPv6 = true
	cfg.DisableWebseeds = true
	cfg.DisableWebtorrent = true
	cfg.NoDefaultPortForwarding = true
	for _, o := range opts {
		o(cfg)
	}
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
