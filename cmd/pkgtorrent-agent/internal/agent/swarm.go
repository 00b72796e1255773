package agent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// maxTorrentSize bounds a torrent file read from a mirror. A single-file
// torrent of a 4 GiB file with 1 MiB pieces is 80 KB.
const maxTorrentSize = 4 << 20

// maxPieceLength bounds the piece buffers of origin fetches.
const maxPieceLength = 64 << 20

// dialRate is the peers the agent dials a second, at most.
const dialRate = 500

// engineLevel is the least level of the engine's log lines passed on.
var engineLevel = slog.LevelInfo

// Swarm owns the BitTorrent client and the store: the torrents being
// downloaded and seeded, and the files of finished ones.
type Swarm struct {
	cfg      settings.Config
	log      *slog.Logger
	cl       *torrent.Client
	done     *completion
	origin   *http.Client
	hostname string
	stats    *Stats

	mu    sync.Mutex
	items map[metainfo.Hash]*item
	// recent remembers the torrents of recently fetched torrent URLs.
	recent map[string]recentTorrent
	// fetches limits the origin fetches running at once (each holds one
	// piece buffer).
	fetches chan struct{}
	closed  chan struct{}
	wg      sync.WaitGroup
	// lonely counts the downloads in a row that found no peer.
	lonely atomic.Int32
	// originPace is the time a byte took from the mirror lately
	// (nanoseconds, a float64's bits; see paced).
	originPace atomic.Uint64
}

// item is one torrent of the store.
type item struct {
	ih     metainfo.Hash
	name   string
	length int64
	t      *torrent.Torrent // nil while not in the client
	// url is the file's URL at the mirror, for origin fetches: the one
	// of the latest request (guarded by Swarm.mu).
	url string
	// users counts the requests reading it now; it is never dropped or
	// evicted while users > 0.
	users     int
	lastUsed  time.Time
	seedUntil time.Time
	// verified is closed once every piece already on disk was hashed.
	verified chan struct{}
	// failed is set when the store cannot hold the file (disk full, I/O
	// error): requests then stream it straight from the mirror.
	failed   atomic.Pointer[error]
	complete bool
	// cancel stops its origin fetcher.
	cancel context.CancelFunc
	// base holds the byte counts of earlier lives in the client.
	base torrentCounts
	// sha256 is the file's digest from the repo metadata, when a
	// prefetch gave it.
	sha256 []byte
}

type torrentCounts struct {
	peers, uploaded int64
}

// NewSwarm starts the BitTorrent client on the store and adds the
// torrents already there, hashing their files before they are seeded.
func NewSwarm(cfg settings.Config, origin *http.Client, stats *Stats, log *slog.Logger) (*Swarm, error) {
	for _, d := range []string{dataDir(cfg.Store), torrentsDir(cfg.Store)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	s := &Swarm{
		cfg:     cfg,
		log:     log,
		done:    newCompletion(),
		origin:  origin,
		stats:   stats,
		items:   map[metainfo.Hash]*item{},
		recent:  map[string]recentTorrent{},
		fetches: make(chan struct{}, 8),
		closed:  make(chan struct{}),
	}
	s.hostname, _ = os.Hostname()
	tc := torrent.NewDefaultClientConfig()
	tc.ListenPort = cfg.PeerPort
	if cfg.PeerHost != "" {
		// One address: listen on its family only.
		host := cfg.PeerHost
		tc.ListenHost = func(string) string { return host }
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
			tc.DisableIPv6 = true
		} else {
			tc.DisableIPv4 = true
		}
	}
	tc.Seed = true
	tc.NoDHT = true
	tc.NoDefaultPortForwarding = true
	tc.DisableWebtorrent = true
	// The agent fetches from the mirror itself (see fill): anacrolix's
	// web seed client waits up to 5 s before its first request and does
	// not hold back while peers have the pieces.
	tc.DisableWebseeds = true
	tc.DisableUTP = true
	tc.EstablishedConnsPerTorrent = cfg.PeersPerTorrent
	// The engine dials at most 10 peers a second by default, for the
	// whole client: a transaction's torrents started together (a
	// prefetch of 84 packages, 7 peers each) took a minute to connect,
	// and hosts fetched from the mirror meanwhile what their peers had
	// (BenchmarkFleet). The agent dials the fleet's hosts that its
	// tracker names; half-open connections stay bounded by the engine
	// (25 a torrent, 100 in all).
	tc.DialRateLimiter = rate.NewLimiter(dialRate, dialRate)
	// anacrolix v1.59.1 reserves upload buffer for each peer request as
	// it arrives, but reads requests from disk in one goroutine per
	// connection, in map order: with less room than the requests a peer
	// may queue, that goroutine can wait on a queued request while the
	// granted ones are never read, and uploads on the connection stop for
	// good (seen here after 2 MiB of every torrent with the default 1 MiB).
	// Room for all 1024 requests a peer may queue, 16 KiB each, grants
	// every reservation at once: at most 16 MiB per connection.
	tc.MaxAllocPeerRequestDataPerConn = 1024 * 16 << 10
	if cfg.UploadRate > 0 {
		// The burst is also the largest chunk a peer may request: 16 KiB,
		// the chunk size clients use, so that the bound above holds and
		// rates under 16 KiB/s still upload.
		tc.UploadRateLimiter = rate.NewLimiter(rate.Limit(cfg.UploadRate), 16<<10)
	}
	// The engine's debug lines (one per piece state change) would drown
	// the agent's own; its warnings and errors go through.
	tc.Slogger = slog.New(minLevel{log.Handler(), engineLevel}).With("part", "torrent")
	tc.DefaultStorage = noFlush{storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: dataDir(cfg.Store),
		TorrentDirMaker: func(base string, _ *metainfo.Info, ih metainfo.Hash) string {
			return filepath.Join(base, ih.HexString())
		},
		FilePathMaker: func(o storage.FilePathMakerOpts) string {
			return o.Info.BestName()
		},
		PieceCompletion: s.done,
		// Files keep their names while incomplete: completion lives in
		// s.done only, and part files would make anacrolix infer it.
		UsePartFiles: g.Some(false),
	})}
	cl, err := torrent.NewClient(tc)
	if err != nil {
		return nil, fmt.Errorf("bittorrent client: %w", err)
	}
	s.cl = cl
	s.restore()
	s.wg.Add(1)
	go s.janitor()
	return s, nil
}

// PeerPort is the BitTorrent port the client listens on.
func (s *Swarm) PeerPort() int { return s.cl.LocalPort() }

// Close stops the client; the store stays for the next start.
func (s *Swarm) Close() {
	s.mu.Lock()
	close(s.closed)
	for _, it := range s.items {
		if it.cancel != nil {
			it.cancel()
		}
	}
	s.mu.Unlock()
	s.cl.Close()
	s.wg.Wait()
}

func dataDir(store string) string     { return filepath.Join(store, "data") }
func torrentsDir(store string) string { return filepath.Join(store, "torrents") }

func (s *Swarm) torrentFile(ih metainfo.Hash) string {
	return filepath.Join(torrentsDir(s.cfg.Store), ih.HexString()+".torrent")
}

// restore adds the torrents of the store. Their pieces are hashed before
// anything of them is served or uploaded.
func (s *Swarm) restore() {
	ents, err := os.ReadDir(torrentsDir(s.cfg.Store))
	if err != nil {
		s.log.Warn("reading the store", "err", err)
		return
	}
	for _, e := range ents {
		name := filepath.Join(torrentsDir(s.cfg.Store), e.Name())
		if filepath.Ext(e.Name()) != ".torrent" {
			continue
		}
		mi, err := metainfo.LoadFromFile(name)
		if err == nil {
			var fi os.FileInfo
			if fi, err = e.Info(); err == nil {
				s.mu.Lock()
				_, err = s.addLocked(mi, "", fi.ModTime())
				s.mu.Unlock()
			}
		}
		if err != nil {
			s.log.Warn("dropping a store entry", "file", name, "err", err)
			s.remove(name)
		}
	}
}

func (s *Swarm) remove(torrentFile string) {
	ih := filepath.Base(torrentFile)
	ih = ih[:len(ih)-len(filepath.Ext(ih))]
	os.Remove(torrentFile)
	if len(ih) == 40 {
		if _, err := hex.DecodeString(ih); err == nil {
			os.RemoveAll(filepath.Join(dataDir(s.cfg.Store), ih))
		}
	}
}

var errClosed = errors.New("the agent is stopping")

// ErrNotSingleFile is returned for a torrent that is not the one file
// asked for: the request is then passed through to the mirror.
var ErrNotSingleFile = errors.New("torrent is not of the one file asked for")

// Open returns the store's item for the file at fileURL, whose torrent
// is at torrentURL, adding it to the client (and starting its download)
// when needed. The caller must call Release when done reading.
func (s *Swarm) Open(ctx context.Context, torrentURL, fileURL string) (*item, error) {
	if it := s.openRecent(torrentURL, fileURL); it != nil {
		return it, nil
	}
	mi, err := s.fetchTorrent(ctx, torrentURL)
	if err != nil {
		return nil, err
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", torrentURL, err)
	}
	if info.IsDir() || info.Length <= 0 || info.Name != path.Base(mustUnescape(fileURL)) ||
		info.PieceLength <= 0 || info.PieceLength > maxPieceLength || !info.HasV1() {
		return nil, fmt.Errorf("torrent %s: %w", torrentURL, ErrNotSingleFile)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		// Stopping (a prefetch may still be running): nothing new.
		return nil, errClosed
	default:
	}
	it, ok := s.items[mi.HashInfoBytes()]
	if !ok {
		if err := s.save(mi); err != nil {
			// Without its torrent in the store the download still works;
			// it is just not seeded after a restart.
			s.log.Warn("saving a torrent", "err", err)
		}
		if it, err = s.addLocked(mi, fileURL, time.Now()); err != nil {
			return nil, err
		}
	} else if it.t == nil || (it.failed.Load() != nil && it.users == 0) {
		// Dropped after seeding, or failed to store: into the client
		// again, its file hashed again first.
		if it.t != nil {
			s.dropLocked(it)
		}
		if err := s.readdLocked(it, mi); err != nil {
			return nil, err
		}
	}
	if len(s.recent) >= maxRecent {
		clear(s.recent)
	}
	s.recent[torrentURL] = recentTorrent{it.ih, time.Now()}
	s.useLocked(it, fileURL)
	return it, nil
}

// recentTorrent is the info hash a torrent URL gave, and when.
type recentTorrent struct {
	ih metainfo.Hash
	at time.Time
}

const (
	// torrentTTL is how long the torrent a mirror gave for a URL is
	// taken again without asking: the staleness the service itself allows
	// a cached torrent (its default revalidate). A prefetched package is
	// then not asked for twice, once by the prefetch and once by dnf.
	torrentTTL = time.Minute
	// maxRecent bounds the torrent URLs remembered.
	maxRecent = 4096
)

// openRecent is Open for a torrent URL fetched less than torrentTTL ago
// whose torrent is in the swarm and healthy; nil otherwise.
func (s *Swarm) openRecent(torrentURL, fileURL string) *item {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recent[torrentURL]
	if !ok || time.Since(r.at) >= torrentTTL {
		return nil
	}
	it := s.items[r.ih]
	if it == nil || it.t == nil || it.failed.Load() != nil {
		return nil
	}
	select {
	case <-s.closed:
		return nil
	default:
	}
	s.useLocked(it, fileURL)
	return it
}

// useLocked counts a request's use of it and starts its download.
func (s *Swarm) useLocked(it *item, fileURL string) {
	it.url = fileURL
	it.users++
	it.lastUsed = time.Now()
	s.touch(it)
	s.startFill(it)
}

// Release ends a request's use of it.
func (s *Swarm) Release(it *item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it.users--
	it.lastUsed = time.Now()
}

// mustUnescape is the unescaped path of URL u, or "" when u does not
// parse.
func mustUnescape(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Path
}

func (s *Swarm) fetchTorrent(ctx context.Context, u string) (*metainfo.MetaInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", u, err)
	}
	resp, err := s.origin.Do(req)
	if err != nil {
		return nil, fmt.Errorf("torrent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("torrent %s: %s: %w", u, resp.Status, ErrNotSingleFile)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", u, err)
	}
	if len(b) > maxTorrentSize {
		return nil, fmt.Errorf("torrent %s: larger than %d bytes: %w", u, maxTorrentSize, ErrNotSingleFile)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", u, err)
	}
	return mi, nil
}

// save writes the torrent into the store (a temporary file, then a
// rename), so that a restart seeds it again.
func (s *Swarm) save(mi *metainfo.MetaInfo) error {
	name := s.torrentFile(mi.HashInfoBytes())
	f, err := os.CreateTemp(torrentsDir(s.cfg.Store), ".tmp-*")
	if err != nil {
		return err
	}
	err = mi.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// addLocked adds a torrent to the client and s.items. Its data on disk,
// if any, is hashed in the background before it is served or uploaded.
func (s *Swarm) addLocked(mi *metainfo.MetaInfo, fileURL string, lastUsed time.Time) (*item, error) {
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, err
	}
	it := &item{
		ih:       mi.HashInfoBytes(),
		name:     info.Name,
		length:   info.TotalLength(),
		url:      fileURL,
		lastUsed: lastUsed,
	}
	it.seedUntil = lastUsed.Add(s.seedTime(it.ih))
	if err := s.readdLocked(it, mi); err != nil {
		return nil, err
	}
	s.items[it.ih] = it
	return it, nil
}

func (s *Swarm) readdLocked(it *item, mi *metainfo.MetaInfo) error {
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return err
	}
	spec.Webseeds = nil
	if len(s.cfg.Trackers) > 0 {
		spec.Trackers = [][]string{s.cfg.Trackers}
	}
	s.done.forget(it.ih)
	t, _, err := s.cl.AddTorrentSpec(spec)
	if err != nil {
		return fmt.Errorf("adding torrent %s: %w", it.ih.HexString(), err)
	}
	it.t = t
	it.complete = false
	it.failed.Store(nil)
	// A chunk from a peer that cannot be written (disk full): the
	// engine stops downloading the torrent, and requests stream from the
	// mirror.
	t.SetOnWriteChunkError(func(err error) { s.fail(it, storeError{err}) })
	it.verified = make(chan struct{})
	verified := it.verified
	if _, err := os.Stat(filepath.Join(dataDir(s.cfg.Store), it.ih.HexString(), it.name)); err != nil {
		close(verified)
		t.DownloadAll()
		return nil
	}
	// Nothing of the file on disk is sent to peers before it is hashed.
	t.DisallowDataUpload()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(verified)
		if err := t.VerifyData(); err != nil {
			s.log.Debug("hashing a stored file", "torrent", it.name, "err", err)
		}
		if missing(t) == 0 {
			s.mu.Lock()
			it.complete = true
			s.mu.Unlock()
		}
		t.AllowDataUpload()
		t.DownloadAll()
	}()
	return nil
}

// touch marks the torrent file's mtime as the last use, for eviction
// after a restart.
func (s *Swarm) touch(it *item) {
	now := time.Now()
	os.Chtimes(s.torrentFile(it.ih), now, now)
	it.seedUntil = now.Add(s.seedTime(it.ih))
}

// seedTime spreads the seeding time of hosts between seed-min and
// seed-max as yum-torrent did: s is the first 4 bytes of
// SHA-1(host name + info hash) over 2^32, and the time is
// min + (max-min)·(1-√(2s-s²)): most hosts seed for a short time, a few
// for long, and they do not all leave at once.
func (s *Swarm) seedTime(ih metainfo.Hash) time.Duration {
	h := sha1.Sum([]byte(s.hostname + ih.HexString()))
	x := float64(binary.BigEndian.Uint32(h[:4])) / (1 << 32)
	f := 1 - math.Sqrt(2*x-x*x)
	return s.cfg.SeedMin + time.Duration(f*float64(s.cfg.SeedMax-s.cfg.SeedMin))
}

// janitor drops torrents past their seeding time and evicts finished
// files, least recently used first, while the store holds more than
// store-size.
func (s *Swarm) janitor() {
	defer s.wg.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
			s.tidy(time.Now())
		}
	}
}

func (s *Swarm) tidy(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	var idle []*item
	for _, it := range s.items {
		total += it.length
		if it.t != nil && it.users == 0 && it.complete && now.After(it.seedUntil) {
			s.dropLocked(it)
		}
		if it.users == 0 && (it.complete || it.t == nil) {
			idle = append(idle, it)
		}
	}
	// A download the store could not hold gives its space back once no
	// request reads it; the next request starts it again.
	for _, it := range s.items {
		if it.failed.Load() != nil && it.users == 0 {
			s.evictLocked(it)
			total -= it.length
		}
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].lastUsed.Before(idle[j].lastUsed) })
	for _, it := range idle {
		if total <= s.cfg.StoreSize {
			break
		}
		s.evictLocked(it)
		total -= it.length
	}
}

// dropLocked stops seeding it; its file stays in the store.
func (s *Swarm) dropLocked(it *item) {
	if it.cancel != nil {
		it.cancel()
		it.cancel = nil
	}
	st := it.t.Stats()
	it.base.peers += st.PeerConns.BytesReadUsefulData.Int64()
	it.base.uploaded += st.BytesWrittenData.Int64()
	it.t.Drop()
	it.t = nil
	s.done.forget(it.ih)
}

func (s *Swarm) evictLocked(it *item) {
	if it.t != nil {
		s.dropLocked(it)
	}
	s.stats.retire(it.base)
	delete(s.items, it.ih)
	s.remove(s.torrentFile(it.ih))
	s.stats.evicted.Add(1)
	s.log.Info("evicted", "torrent", it.name, "infohash", it.ih.HexString())
}

// fail records that the store cannot hold it: requests stream from the
// mirror, and the janitor removes its partial file once no request
// reads it. It takes no lock: the engine calls it holding its own.
func (s *Swarm) fail(it *item, err error) {
	if it.failed.CompareAndSwap(nil, &err) {
		s.log.Warn("the store cannot hold a download; serving it from the mirror", "torrent", it.name, "err", err)
	}
}

// failure reports why it cannot be served from the swarm, if so.
func (s *Swarm) failure(it *item) error {
	if e := it.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// minLevel passes records of at least level to h.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.level}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.level}
}

// noFlush hides the file storage's Flush from the engine, which calls it
// (an fsync of the whole file) after every verified piece: completion
// lives in memory and every start hashes the store again, so the sync
// buys nothing, and it cost about 80 ms per 7 MB.
type noFlush struct{ storage.ClientImplCloser }

func (s noFlush) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	t, err := s.ClientImplCloser.OpenTorrent(ctx, info, ih)
	if err != nil {
		return t, err
	}
	if p := t.Piece; p != nil {
		t.Piece = func(mp metainfo.Piece) storage.PieceImpl { return hideFlush(p(mp)) }
	}
	if p := t.PieceWithHash; p != nil {
		t.PieceWithHash = func(mp metainfo.Piece, h g.Option[[]byte]) storage.PieceImpl { return hideFlush(p(mp, h)) }
	}
	return t, nil
}

type plainPiece struct{ storage.PieceImpl }

// writerToPiece keeps io.WriterTo, through which file pieces are hashed.
type writerToPiece struct {
	storage.PieceImpl
	io.WriterTo
}

func hideFlush(p storage.PieceImpl) storage.PieceImpl {
	if w, ok := p.(io.WriterTo); ok {
		return writerToPiece{p, w}
	}
	return plainPiece{p}
}

// expect records the size and SHA-256 the repo metadata gives for it. A
// size that differs from the torrent's means the mirror's file is not
// the one dnf expects: the digest then fails every whole read.
func (s *Swarm) expect(it *item, size int64, sum []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size != it.length {
		s.log.Warn("prefetch: the repo metadata's size differs from the torrent's", "torrent", it.name, "size", size, "length", it.length)
	}
	it.sha256 = sum
}

// waitDone waits until it is complete, has failed, the swarm closes, or
// d has passed.
func (s *Swarm) waitDone(it *item, d time.Duration) {
	s.mu.Lock()
	t := it.t
	s.mu.Unlock()
	if t == nil {
		return
	}
	deadline := time.After(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for s.failure(it) == nil {
		select {
		case <-t.Complete().On():
			return
		case <-s.closed:
			return
		case <-deadline:
			return
		case <-tick.C:
		}
	}
}

// expected is the SHA-256 a prefetch gave for it, if any.
func (s *Swarm) expected(it *item) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return it.sha256
}
