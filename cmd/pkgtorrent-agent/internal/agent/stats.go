package agent

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the agent's figures, for /status and /metrics.
type Stats struct {
	// origin counts piece bytes fetched from mirrors into the swarm;
	// fallback the bytes streamed straight from a mirror to a request;
	// passthrough the bytes of files that are not packages.
	origin, fallback, passthrough atomic.Int64
	evicted                       atomic.Int64
	// prefetched counts the packages /prefetch accepted.
	prefetched atomic.Int64
	// retired holds the peer byte counts of evicted torrents.
	retiredPeers, retiredUploaded atomic.Int64

	firstByte, total prometheus.Histogram
}

// NewStats makes the figures.
func NewStats() *Stats {
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 120}
	return &Stats{
		firstByte: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pkgtorrent_agent_first_byte_seconds",
			Help:    "Time from a package request to its first byte sent.",
			Buckets: buckets,
		}),
		total: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pkgtorrent_agent_download_seconds",
			Help:    "Time from a package request to its last byte sent.",
			Buckets: buckets,
		}),
	}
}

func (st *Stats) retire(c torrentCounts) {
	st.retiredPeers.Add(c.peers)
	st.retiredUploaded.Add(c.uploaded)
}

func (st *Stats) observe(start, first time.Time) {
	if !first.IsZero() {
		st.firstByte.Observe(first.Sub(start).Seconds())
	}
	st.total.Observe(time.Since(start).Seconds())
}

// Totals are the figures at one moment.
type Totals struct {
	// Bytes of package data by source: peers, origin (pieces the agent
	// fetched from the mirror), fallback (streamed from the mirror past
	// the swarm).
	FromPeers    int64 `json:"from_peers"`
	FromOrigin   int64 `json:"from_origin"`
	FromFallback int64 `json:"from_fallback"`
	// Passthrough counts bytes of files that are not packages.
	Passthrough int64 `json:"passthrough"`
	Uploaded    int64 `json:"uploaded"`
	// Offload is the share of package bytes that did not come from a
	// mirror.
	Offload float64 `json:"offload"`
	Active  int     `json:"torrents_active"`
	Seeding int     `json:"torrents_seeding"`
	Stored  int     `json:"torrents_stored"`
	Evicted int64   `json:"torrents_evicted"`
	// Prefetched counts the packages /prefetch accepted.
	Prefetched int64 `json:"prefetched"`
	// StoreBytes is the length of the files in the store.
	StoreBytes int64 `json:"store_bytes"`
}

// TorrentStatus is one torrent of /status.
type TorrentStatus struct {
	Name      string `json:"name"`
	InfoHash  string `json:"infohash"`
	Length    int64  `json:"length"`
	Completed int64  `json:"completed"`
	State     string `json:"state"`
	Peers     int    `json:"peers"`
	FromPeers int64  `json:"from_peers"`
	Uploaded  int64  `json:"uploaded"`
	Users     int    `json:"requests"`
	// BadPieces counts pieces that failed their hash check; Wasted the
	// chunks received that were not needed.
	BadPieces int64  `json:"bad_pieces"`
	Wasted    int64  `json:"wasted_chunks"`
	Error     string `json:"error,omitempty"`
	// Trackers are the announce URLs it is announced to: empty when the
	// torrent names none on its mirror's host (no peer can find it).
	Trackers []string `json:"trackers"`
}

// Status is the answer of GET /status.
type Status struct {
	// Taken is when the figures were taken: at most statusWait before
	// the answer, unless the engine was busy longer (CurrentStatus).
	Taken    time.Time `json:"taken"`
	PeerPort int       `json:"peer_port"`
	// PeerConns are the peer connections open now (both ways, handshakes
	// included); PeerConnsRefused those closed or not dialed since the
	// start because peer-conns or peer-conns-per-address was reached.
	PeerConns        int             `json:"peer_conns"`
	PeerConnsRefused int64           `json:"peer_conns_refused"`
	Totals           Totals          `json:"totals"`
	Torrents         []TorrentStatus `json:"torrents"`
}

// statusWait is how long /status and /metrics wait for figures taken
// after the request came (CurrentStatus); past it they answer with the
// latest figures taken.
const statusWait = 50 * time.Millisecond

// figures are the latest Status taken, and the next round's wait.
type figures struct {
	latest atomic.Pointer[Status]
	// kick asks the refresher for a round.
	kick chan struct{}
	mu   sync.Mutex
	// next is closed when the round after the one running (if any) is
	// taken.
	next chan struct{}
}

// CurrentStatus is Status for the HTTP API, which never waits on the
// engine's lock or on Swarm.mu: figures taken after the call when they
// come within statusWait, else the latest taken (the engine busy, or the
// agent stopping). The refresher takes them, only when asked.
func (s *Swarm) CurrentStatus() *Status {
	s.fig.mu.Lock()
	next := s.fig.next
	s.fig.mu.Unlock()
	select {
	case s.fig.kick <- struct{}{}:
	default:
	}
	wait := time.NewTimer(statusWait)
	defer wait.Stop()
	select {
	case <-next:
	case <-wait.C:
	case <-s.closed:
	}
	return s.fig.latest.Load()
}

// refresher takes the figures each time CurrentStatus asks, one round at
// a time: requests that come during a round share the next one.
func (s *Swarm) refresher() {
	defer s.wg.Done()
	for {
		select {
		case <-s.closed:
			return
		case <-s.fig.kick:
		}
		s.fig.mu.Lock()
		done := s.fig.next
		s.fig.next = make(chan struct{})
		s.fig.mu.Unlock()
		st := s.Status()
		s.fig.latest.Store(&st)
		close(done)
	}
}

// Status reports the figures and every torrent of the store, now. It
// holds Swarm.mu only to copy the items' own fields, and asks the engine
// (whose lock its figures take) outside it.
func (s *Swarm) Status() Status {
	type view struct {
		it       *item
		t        *torrent.Torrent
		base     torrentCounts
		users    int
		complete bool
		stored   bool
		trackers []string
	}
	s.mu.Lock()
	views := make([]view, 0, len(s.items))
	for _, it := range s.items {
		views = append(views, view{it, it.t, it.base, it.users, it.complete, it.stored, slices.Clone(it.trackers)})
	}
	// Retired counts change under s.mu, as items are evicted.
	retiredPeers, retiredUploaded := s.stats.retiredPeers.Load(), s.stats.retiredUploaded.Load()
	s.mu.Unlock()
	st := Status{Taken: time.Now(), PeerPort: s.PeerPort(), PeerConns: s.cl.Conns.Open(), PeerConnsRefused: s.cl.Conns.Refused(),
		Torrents: []TorrentStatus{}}
	tot := &st.Totals
	tot.FromPeers = retiredPeers
	tot.Uploaded = retiredUploaded
	for _, v := range views {
		it := v.it
		ts := TorrentStatus{
			Name: it.name, InfoHash: it.ih.HexString(), Length: it.length,
			FromPeers: v.base.peers, Uploaded: v.base.uploaded, Users: v.users,
			Trackers: v.trackers,
		}
		switch {
		case it.failure() != nil:
			ts.State, ts.Error = "failed", it.failure().Error()
		case v.t == nil || v.stored:
			ts.State = "stored"
		case v.complete:
			ts.State = "seeding"
		default:
			ts.State = "downloading"
		}
		if v.t != nil {
			ps := v.t.Stats()
			ts.FromPeers += ps.PeerConns.BytesReadUsefulData.Int64()
			ts.Uploaded += ps.BytesWrittenData.Int64()
			ts.Peers = ps.ActivePeers
			ts.BadPieces = ps.PiecesDirtiedBad.Int64()
			ts.Wasted = ps.ChunksReadWasted.Int64()
			ts.Completed = v.t.BytesCompleted()
		} else {
			ts.Completed = it.length
		}
		tot.FromPeers += ts.FromPeers
		tot.Uploaded += ts.Uploaded
		tot.StoreBytes += it.length
		tot.Stored++
		switch ts.State {
		case "seeding":
			tot.Seeding++
		case "downloading", "failed":
			tot.Active++
		}
		st.Torrents = append(st.Torrents, ts)
	}
	tot.FromOrigin = s.stats.origin.Load()
	tot.FromFallback = s.stats.fallback.Load()
	tot.Passthrough = s.stats.passthrough.Load()
	tot.Evicted = s.stats.evicted.Load()
	tot.Prefetched = s.stats.prefetched.Load()
	if all := tot.FromPeers + tot.FromOrigin + tot.FromFallback; all > 0 {
		tot.Offload = float64(tot.FromPeers) / float64(all)
	}
	return st
}

// collector exports Status's totals to Prometheus at each scrape.
type collector struct {
	s                               *Swarm
	bytes, uploaded, torrents, evic *prometheus.Desc
	offload, prefetched             *prometheus.Desc
	conns, refused                  *prometheus.Desc
}

// sequential is one collector of several, collected one after the other.
// A registry of several starts a goroutine for each at every scrape and
// yields (runtime.Gosched) after each start: on a busy agent each yield
// waits for every goroutine the scheduler runs before it, and /metrics
// answered in up to 124 ms where /status took 75 (BenchmarkHTTPUnderLoad).
type sequential []prometheus.Collector

func (s sequential) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s {
		c.Describe(ch)
	}
}

func (s sequential) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s {
		c.Collect(ch)
	}
}

func newCollector(s *Swarm) *collector {
	return &collector{
		s: s,
		bytes: prometheus.NewDesc("pkgtorrent_agent_bytes_total",
			"Bytes received, by source: peers, origin (pieces fetched from the mirror into the swarm), fallback (streamed from the mirror to a request) and passthrough (files that are not packages).",
			[]string{"source"}, nil),
		uploaded: prometheus.NewDesc("pkgtorrent_agent_uploaded_bytes_total",
			"Bytes of piece data sent to peers.", nil, nil),
		torrents: prometheus.NewDesc("pkgtorrent_agent_torrents",
			"Torrents in the store, by state: active (downloading), seeding, stored (kept on disk past their seeding time: announced with few connections while among stored-seeds, else out of the swarm).",
			[]string{"state"}, nil),
		evic: prometheus.NewDesc("pkgtorrent_agent_evicted_total",
			"Torrents evicted from the store.", nil, nil),
		offload: prometheus.NewDesc("pkgtorrent_agent_offload_ratio",
			"Share of package bytes that came from peers rather than a mirror.", nil, nil),
		prefetched: prometheus.NewDesc("pkgtorrent_agent_prefetched_total",
			"Packages whose download a prefetch (the dnf plugin) started.", nil, nil),
		conns: prometheus.NewDesc("pkgtorrent_agent_peer_connections",
			"Peer connections open, both ways, handshakes included.", nil, nil),
		refused: prometheus.NewDesc("pkgtorrent_agent_peer_connections_refused_total",
			"Peer connections closed at once or not dialed: peer-conns or peer-conns-per-address was reached.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.uploaded, c.torrents, c.evic, c.offload, c.prefetched, c.conns, c.refused} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.CurrentStatus()
	t := st.Totals
	for _, v := range []struct {
		src string
		n   int64
	}{{"peers", t.FromPeers}, {"origin", t.FromOrigin}, {"fallback", t.FromFallback}, {"passthrough", t.Passthrough}} {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(v.n), v.src)
	}
	ch <- prometheus.MustNewConstMetric(c.uploaded, prometheus.CounterValue, float64(t.Uploaded))
	ch <- prometheus.MustNewConstMetric(c.torrents, prometheus.GaugeValue, float64(t.Active), "active")
	ch <- prometheus.MustNewConstMetric(c.torrents, prometheus.GaugeValue, float64(t.Seeding), "seeding")
	ch <- prometheus.MustNewConstMetric(c.torrents, prometheus.GaugeValue, float64(t.Stored-t.Active-t.Seeding), "stored")
	ch <- prometheus.MustNewConstMetric(c.evic, prometheus.CounterValue, float64(t.Evicted))
	ch <- prometheus.MustNewConstMetric(c.offload, prometheus.GaugeValue, t.Offload)
	ch <- prometheus.MustNewConstMetric(c.prefetched, prometheus.CounterValue, float64(t.Prefetched))
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.PeerConns))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.PeerConnsRefused))
}
