package agent

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/time/rate"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/engine"
	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// Swarm owns the BitTorrent client and the store: the torrents being
// downloaded and seeded, and the files of finished ones.
type Swarm struct {
	cfg      settings.Config
	log      *slog.Logger
	cl       *engine.Client
	done     *engine.Completion
	origin   *http.Client
	hostname string
	stats    *Stats
	// storeLog lets the store's problems through to the log once a
	// minute.
	storeLog rate.Sometimes

	mu    sync.Mutex
	items map[metainfo.Hash]*item
	// recent remembers the torrents of recently fetched torrent URLs.
	recent map[string]recentTorrent
	// fetches limits the origin fetches running at once (each holds one
	// piece buffer).
	fetches chan struct{}
	// rehash limits the stored files hashed at once (verifyStored).
	rehash chan struct{}
	closed chan struct{}
	wg     sync.WaitGroup
	// lonely counts the downloads in a row that found no peer.
	lonely atomic.Int32
	// originPace is the time a byte took from the mirror lately
	// (nanoseconds, a float64's bits; see paced).
	originPace atomic.Uint64
	// trackers is the HTTP client of the trackers' scrapes (swarmSize):
	// origin's settings without its proxy, since trackers are reached
	// directly.
	trackers *http.Client
	// needsCert reports whether the mirror of a file URL needs a client
	// certificate (Mirrors.NeedsCert): its torrent is private (see
	// item.private). Set before the first request; nil: none does.
	needsCert func(fileURL string) bool
	// fig are the figures of the HTTP API (CurrentStatus).
	fig figures
}

// NewSwarm starts the BitTorrent client on the store and adds the
// torrents already there, hashing their files before they are seeded.
func NewSwarm(cfg settings.Config, origin *http.Client, stats *Stats, log *slog.Logger) (*Swarm, error) {
	for _, d := range []string{dataDir(cfg.Store), torrentsDir(cfg.Store)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	trackers, err := originClient(cfg, nil, log)
	if err != nil {
		return nil, err
	}
	s := &Swarm{
		cfg:      cfg,
		log:      log,
		done:     engine.NewCompletion(),
		origin:   origin,
		trackers: trackers,
		stats:    stats,
		storeLog: rate.Sometimes{Interval: time.Minute},
		items:    map[metainfo.Hash]*item{},
		recent:   map[string]recentTorrent{},
		rehash:   make(chan struct{}, rehashAtOnce),
		fetches:  make(chan struct{}, 8),
		closed:   make(chan struct{}),
	}
	s.hostname, _ = os.Hostname()
	cl, err := engine.NewClient(cfg, dataDir(cfg.Store), s.done, log)
	if err != nil {
		return nil, fmt.Errorf("bittorrent client: %w", err)
	}
	s.cl = cl
	s.restore()
	st := s.Status()
	s.fig.latest.Store(&st)
	s.fig.kick = make(chan struct{}, 1)
	s.fig.next = make(chan struct{})
	s.wg.Add(2)
	go s.janitor()
	go s.refresher()
	return s, nil
}

// PeerPort is the BitTorrent port the client listens on.
func (s *Swarm) PeerPort() int { return s.cl.LocalPort() }

// Close tells the trackers that this host leaves (leave) and stops the
// client; the store stays for the next start.
func (s *Swarm) Close() {
	s.mu.Lock()
	close(s.closed)
	for _, it := range s.items {
		if it.cancel != nil {
			it.cancel()
		}
	}
	s.mu.Unlock()
	s.leave()
	s.cl.Close()
	s.wg.Wait()
}
