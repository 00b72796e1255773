package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// maxTorrentSize bounds a torrent file read from a mirror. A single-file
// torrent of a 4 GiB file with 1 MiB pieces is 80 KB.
const maxTorrentSize = 4 << 20

// maxPieceLength bounds the piece buffers of origin fetches.
const maxPieceLength = 64 << 20

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
	failed atomic.Pointer[error]
	// failWake is closed when failed is set, for requests waiting on
	// the torrent; a new one comes with each life in the client.
	failWake atomic.Pointer[wake]
	complete bool
	// arriving counts the bytes of its pieces that its origin fill has
	// received from the mirror so far, hashed or not: a fill under way is
	// progress to the requests waiting on the torrent (waitPiece).
	arriving atomic.Int64
	// stored is set while it is in the client past its seeding time,
	// with fewer connections (Swarm.tidy); a use makes it active again.
	stored bool
	// cancel stops its origin fetcher.
	cancel context.CancelFunc
	// base holds the byte counts of earlier lives in the client.
	base torrentCounts
	// trackers are the announce URLs it is announced to (announceList).
	trackers []string
	// view is the hosts its origin fill ranks itself among, as the
	// trackers listed them (nil: not asked, or none answered); the
	// late-piece turn ranks among them too.
	view *rankView
	// private is set for a torrent of a mirror that needs a client
	// certificate (Mirrors.NeedsCert): it is shared with the peers of the
	// peer-network setting only, and with no peer when that is not set
	// (Swarm.shared).
	private bool
}

// wake is a channel closed once.
type wake struct {
	once sync.Once
	c    chan struct{}
}

func newWake() *wake { return &wake{c: make(chan struct{})} }

// Close closes the channel, the first time.
func (w *wake) Close() { w.once.Do(func() { close(w.c) }) }

type torrentCounts struct {
	peers, uploaded int64
}

// failure reports why it cannot be served from the swarm, if so.
func (it *item) failure() error {
	if e := it.failed.Load(); e != nil {
		return *e
	}
	return nil
}

var errClosed = errors.New("the agent is stopping")

// errNotSingleFile is a torrent that is not of the one file asked for:
// the request is then passed through to the mirror.
var errNotSingleFile = errors.New("torrent is not of the one file asked for")

// errOtherSize is open's error for a torrent whose length is not the
// size the repo metadata gives for the file: the mirror's file is not
// the one dnf expects, and nothing of it is downloaded.
var errOtherSize = errors.New("its length differs from the repo metadata's size")

// open returns the store's item for the file at fileURL, whose torrent
// is at torrentURL, adding it to the client (and starting its download)
// when needed; size, when not 0, is the file's size in the repo
// metadata, which the torrent's length must equal. The caller must call
// release when done reading.
func (s *Swarm) open(ctx context.Context, torrentURL, fileURL string, size int64) (*item, error) {
	if it := s.openRecent(torrentURL, fileURL, size); it != nil {
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
	if info.IsDir() || info.Length <= 0 || info.Name != path.Base(urlPath(fileURL)) ||
		info.PieceLength <= 0 || info.PieceLength > maxPieceLength || !info.HasV1() {
		return nil, fmt.Errorf("torrent %s: %w", torrentURL, errNotSingleFile)
	}
	// The engine stores the file under name.utf-8 when there is one: it
	// must be the name asked for.
	if info.NameUtf8 != "" && info.NameUtf8 != info.Name {
		return nil, fmt.Errorf("torrent %s: name.utf-8 %q is not its name %q", torrentURL, info.NameUtf8, info.Name)
	}
	if size != 0 && info.Length != size {
		return nil, fmt.Errorf("torrent %s: %d bytes: %w (%d)", torrentURL, info.Length, errOtherSize, size)
	}
	if info.Length > s.cfg.MaxFileSize || info.NumPieces() > s.cfg.MaxPieces {
		return nil, fmt.Errorf("torrent %s: %d bytes in %d pieces, over max-file-size (%d) or max-pieces (%d)",
			torrentURL, info.Length, info.NumPieces(), s.cfg.MaxFileSize, s.cfg.MaxPieces)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		// Stopping (a prefetch may still be running): nothing new.
		return nil, errClosed
	default:
	}
	private := s.needsCert != nil && s.needsCert(fileURL)
	it, ok := s.items[mi.HashInfoBytes()]
	if !ok {
		if err := s.save(mi, private); err != nil {
			// Without its torrent in the store the download still works;
			// it is just not seeded after a restart.
			s.log.Warn("saving a torrent", "err", err)
		}
		if it, err = s.addLocked(mi, fileURL, time.Now(), private); err != nil {
			// Nothing of a torrent that could not be added stays.
			s.remove(s.torrentFile(mi.HashInfoBytes()))
			return nil, err
		}
	} else if private && !it.private {
		// The same file, asked for now from a mirror that needs a
		// certificate: private from now on.
		s.makePrivateLocked(it)
	}
	if it.t == nil || (it.failure() != nil && it.users == 0) {
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

// openRecent is open for a torrent URL fetched less than torrentTTL ago
// whose torrent is in the swarm, healthy and of the size asked for; nil
// otherwise.
func (s *Swarm) openRecent(torrentURL, fileURL string, size int64) *item {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recent[torrentURL]
	if !ok || time.Since(r.at) >= torrentTTL {
		return nil
	}
	it := s.items[r.ih]
	if it == nil || it.t == nil || it.failure() != nil || (size != 0 && it.length != size) {
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
	s.activateLocked(it)
	s.startFill(it)
}

// release ends a request's use of it.
func (s *Swarm) release(it *item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it.users--
	it.lastUsed = time.Now()
}

// urlPath is the unescaped path of URL u, or "" when u does not parse.
func urlPath(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Path
}

// fetchTorrent reads the torrent at u from the mirror.
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
		return nil, fmt.Errorf("torrent %s: the mirror answered %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", u, err)
	}
	if len(b) > maxTorrentSize {
		return nil, fmt.Errorf("torrent %s: larger than %d bytes", u, maxTorrentSize)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("torrent %s: %w", u, err)
	}
	return mi, nil
}

// addLocked adds a torrent to the client and s.items. Its data on disk,
// if any, is hashed in the background before it is served or uploaded.
func (s *Swarm) addLocked(mi *metainfo.MetaInfo, fileURL string, lastUsed time.Time, private bool) (*item, error) {
	it, err := s.newItem(mi, fileURL, lastUsed, private)
	if err != nil {
		return nil, err
	}
	if err := s.readdLocked(it, mi); err != nil {
		return nil, err
	}
	s.items[it.ih] = it
	return it, nil
}

// newItem is the item of torrent mi, out of the client.
func (s *Swarm) newItem(mi *metainfo.MetaInfo, fileURL string, lastUsed time.Time, private bool) (*item, error) {
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
		private:  private,
	}
	it.seedUntil = lastUsed.Add(s.seedTime(it.ih))
	return it, nil
}

// readdLocked puts it into the client, with the settings' trackers and
// no web seeds; a file already on disk is hashed before any of it is
// uploaded.
func (s *Swarm) readdLocked(it *item, mi *metainfo.MetaInfo) error {
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return err
	}
	spec.Webseeds = nil
	var dropped []string
	spec.Trackers, dropped = s.announceList(mi, it.url)
	if !s.shared(it) {
		// Announced nowhere: no peer learns that this host has it.
		spec.Trackers, dropped = nil, nil
	}
	it.trackers = slices.Concat(spec.Trackers...)
	if len(dropped) > 0 {
		s.log.Debug("trackers not on the mirror's host, not announced to", "torrent", it.name, "dropped", dropped)
	}
	if len(it.trackers) == 0 && s.shared(it) {
		s.log.Warn("the torrent names no tracker on its mirror's host: no peer can find this host for it (the mirror needs a tracker beside it, see deploy/README.md)",
			"torrent", it.name, "dropped", dropped)
	}
	stored := filepath.Join(dataDir(s.cfg.Store), it.ih.HexString(), it.name)
	_, err = os.Stat(stored)
	hasFile := err == nil
	// A stored file is hashed below (verifyStored), not by the engine
	// as it adds the torrent.
	spec.DisableInitialPieceCheck = hasFile
	s.done.Forget(it.ih)
	t, _, err := s.cl.AddTorrentSpec(spec)
	if err != nil {
		return fmt.Errorf("adding torrent %s: %w", it.ih.HexString(), err)
	}
	it.t = t
	it.complete = false
	it.failWake.Store(newWake())
	it.failed.Store(nil)
	// A chunk from a peer that cannot be written (disk full): the
	// engine stops downloading the torrent, and requests stream from the
	// mirror.
	t.SetOnWriteChunkError(func(err error) { s.fail(it, storeError{err}) })
	it.verified = make(chan struct{})
	verified := it.verified
	shared := s.shared(it)
	if !shared {
		// Nothing of it to any peer that connects all the same.
		t.DisallowDataUpload()
	}
	if !hasFile {
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
		if err := s.verifyStored(t, stored); err != nil {
			s.log.Debug("hashing a stored file: the engine hashes it instead", "torrent", it.name, "err", err)
			if err := t.VerifyData(); err != nil {
				s.log.Debug("hashing a stored file", "torrent", it.name, "err", err)
			}
		}
		if missing(t) == 0 {
			s.mu.Lock()
			it.complete = true
			s.mu.Unlock()
		}
		if shared {
			t.AllowDataUpload()
		}
		t.DownloadAll()
	}()
	return nil
}

// fail records that the store cannot hold it: requests stream from the
// mirror, and the janitor removes its partial file once no request
// reads it. It takes no lock: the engine calls it holding its own.
func (s *Swarm) fail(it *item, err error) {
	if it.failed.CompareAndSwap(nil, &err) {
		it.failWake.Load().Close()
		s.log.Warn("the store cannot hold a download; serving it from the mirror", "torrent", it.name, "err", err)
	}
}

// waitDone waits until it is complete, has failed, the swarm closes, or
// d has passed.
func (s *Swarm) waitDone(it *item, d time.Duration) {
	s.mu.Lock()
	t, failed := it.t, it.failWake.Load()
	s.mu.Unlock()
	if t == nil {
		return
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	select {
	case <-t.Complete().On():
	case <-failed.c:
	case <-s.closed:
	case <-deadline.C:
	}
}
