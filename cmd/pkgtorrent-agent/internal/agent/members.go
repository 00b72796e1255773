package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// The hosts a host ranks itself among for a torrent's pieces (rank.go):
// the swarm's members as its trackers list them to an announce of the
// fill's own, each known by the address the tracker lists, so that the
// hosts of one swarm rank among the same hosts whether or not they are
// connected to each other. A host connects to peers-per-torrent peers of
// the swarm, fewer than it ranks among: the late-piece turn and the
// stall cover a member that does not bring its piece.

// numWant is the most members an announce asks for: opentracker's most,
// and the engine's numwant.
const numWant = 200

// maxAnnounce bounds the answer read from a tracker's announce: numWant
// peers of 18 bytes and the rest.
const maxAnnounce = 64 << 10

// rankView is the hosts a host ranks itself among for one torrent: its
// own key and the others' (rankKey of a peer ID, or addrKey of an
// address), and the seeds the trackers count (hosts that have every
// piece: see swarmHolds), when it was made.
type rankView struct {
	me     uint64
	others []uint64
	seeds  int
	at     time.Time
}

// members asks the trackers of it which hosts the swarm of t holds, for
// at most origin-after (see memberView), and keeps the view on it for
// the late-piece turn; nil when none answered.
func (s *Swarm) members(ctx context.Context, it *item, t *torrent.Torrent) *rankView {
	s.mu.Lock()
	trackers := it.trackers
	s.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, s.cfg.OriginAfter)
	defer cancel()
	v := s.memberView(actx, trackers, t.InfoHash(), s.cl.PeerID(), s.cl.LocalPort(), t.Length()-t.BytesCompleted())
	s.mu.Lock()
	it.view = v
	s.mu.Unlock()
	return v
}

// completed tells the trackers of it that this host has every piece of t
// (see announceCompleted), within origin-after.
func (s *Swarm) completed(ctx context.Context, it *item, t *torrent.Torrent) {
	s.mu.Lock()
	trackers := it.trackers
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OriginAfter)
	defer cancel()
	s.announceCompleted(ctx, trackers, t.InfoHash(), s.cl.PeerID(), s.cl.LocalPort())
}

// viewSize is the hosts of v besides this one (-1: v is nil), for logs.
func viewSize(v *rankView) int {
	if v == nil {
		return -1
	}
	return len(v.others)
}

// viewSeeds is the seeds of v (-1: v is nil), for logs.
func viewSeeds(v *rankView) int {
	if v == nil {
		return -1
	}
	return v.seeds
}

// memberView asks the HTTP trackers of the torrent ih which hosts its
// swarm holds, by an announce as this host (its peer ID id and port, left
// bytes to download, no event: the tracker updates the entry of the
// engine's own announces), and returns the view over them. This host is
// the members of its port at the address its connection to a tracker
// came from, as the tracker sees it. nil when no tracker answered.
//
// A host behind a NAT (its address at the tracker not its own) finds
// itself also as a member it does not know: where that member ranks
// first for a piece, the others wait one patience more for it.
func (s *Swarm) memberView(ctx context.Context, trackers []string, ih metainfo.Hash, id [20]byte, port int, left int64) *rankView {
	var me []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	var members []netip.AddrPort
	answered, seeds := false, 0
	for _, tr := range trackers {
		u, ok := announceURL(tr, ih, id, port, left, "")
		if !ok {
			continue
		}
		local, a, err := s.announceTo(ctx, u)
		if err != nil {
			s.log.Debug("announce for the swarm's members", "tracker", tr, "err", err)
			continue
		}
		list := a.peers
		seeds = max(seeds, a.seeds)
		answered = true
		me = append(me, netip.AddrPortFrom(local, uint16(port)))
		for _, m := range list {
			// At most numWant in all (a tracker may list more): the
			// ranking costs each piece a hash per member.
			if !seen[m] && len(members) < numWant {
				seen[m] = true
				members = append(members, m)
			}
		}
	}
	if !answered {
		return nil
	}
	v := &rankView{me: addrKey(me[0], ih), seeds: seeds, at: time.Now()}
	for _, m := range members {
		if !isMe(m, me) {
			v.others = append(v.others, addrKey(m, ih))
		}
	}
	return v
}

func isMe(m netip.AddrPort, me []netip.AddrPort) bool {
	for _, a := range me {
		if m == a {
			return true
		}
	}
	return false
}

// announceURL is the announce URL for this host (peer ID id, port, left
// bytes to download, event: "" for none) in the swarm of ih at the HTTP
// tracker tr, in the compact form; false when tr is not an HTTP tracker.
// Without an event it asks for numWant peers (the members); with one
// (started, completed, stopped) for none: it only tells, and a tracker
// need not build a list of 200 for each torrent of a host that stops.
func announceURL(tr string, ih metainfo.Hash, id [20]byte, port int, left int64, event string) (string, bool) {
	u, err := url.Parse(tr)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return "", false
	}
	want := numWant
	if event != "" {
		want = 0
	}
	// Bytes as %XX, as scrapeURL writes them (opentracker decodes %XX
	// only); the announce URL's own parameters follow as they were.
	q := "info_hash=" + escapeBytes(ih[:]) + "&peer_id=" + escapeBytes(id[:]) +
		"&port=" + strconv.Itoa(port) + "&uploaded=0&downloaded=0&left=" + strconv.FormatInt(max(left, 0), 10) +
		"&compact=1&numwant=" + strconv.Itoa(want)
	if event != "" {
		q += "&event=" + event
	}
	if u.RawQuery != "" {
		q += "&" + u.RawQuery
	}
	u.RawQuery = q
	return u.String(), true
}

// announced is a tracker's answer to an announce: the peers it listed,
// and the seeds it counts.
type announced struct {
	peers []netip.AddrPort
	seeds int
}

// announceTo sends the announce u and returns the local address its
// connection came from and the tracker's answer.
func (s *Swarm) announceTo(ctx context.Context, u string) (netip.Addr, announced, error) {
	var local netip.Addr
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if a, ok := ci.Conn.LocalAddr().(*net.TCPAddr); ok {
			local = a.AddrPort().Addr().Unmap()
		}
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return local, announced{}, err
	}
	resp, err := s.trackers.Do(req)
	if err != nil {
		return local, announced{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return local, announced{}, fmt.Errorf("tracker's announce: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnnounce))
	if err != nil {
		return local, announced{}, err
	}
	if !local.IsValid() {
		return local, announced{}, errors.New("tracker's announce: no local address")
	}
	a, err := parseAnnounce(b)
	return local, a, err
}

// parseAnnounce reads a tracker's announce answer b: its peers, in the
// compact form (BEP 23) or as a list of dictionaries, and peers6 (BEP
// 7); and its seeds (complete).
func parseAnnounce(b []byte) (announced, error) {
	var answer struct {
		Failure  string        `bencode:"failure reason"`
		Complete int64         `bencode:"complete"`
		Peers    bencode.Bytes `bencode:"peers"`
		Peers6   string        `bencode:"peers6"`
	}
	if err := bencode.Unmarshal(b, &answer); err != nil {
		return announced{}, fmt.Errorf("tracker's announce: %w", err)
	}
	if answer.Failure != "" {
		return announced{}, fmt.Errorf("tracker's announce: %q", answer.Failure)
	}
	seeds := int(min(max(answer.Complete, 0), 1<<30))
	var list []netip.AddrPort
	if len(answer.Peers) > 0 && answer.Peers[0] == 'l' {
		var dicts []struct {
			IP   string `bencode:"ip"`
			Port int    `bencode:"port"`
		}
		if err := bencode.Unmarshal(answer.Peers, &dicts); err != nil {
			return announced{}, fmt.Errorf("tracker's announce: peers: %w", err)
		}
		for _, d := range dicts {
			a, err := netip.ParseAddr(d.IP)
			if err == nil && d.Port > 0 && d.Port < 1<<16 {
				list = append(list, netip.AddrPortFrom(a.Unmap(), uint16(d.Port)))
			}
		}
	} else if len(answer.Peers) > 0 {
		var compact string
		if err := bencode.Unmarshal(answer.Peers, &compact); err != nil {
			return announced{}, fmt.Errorf("tracker's announce: peers: %w", err)
		}
		list = appendCompact(list, []byte(compact), 4)
	}
	return announced{peers: appendCompact(list, []byte(answer.Peers6), 16), seeds: seeds}, nil
}

// announceCompleted tells the HTTP trackers of ih that this host (peer
// ID id, port) has every piece (event completed), so that their counts
// of the swarm's seeds, which the fills of the other hosts rank below,
// hold it before the engine's next announce (a minute or more later: it
// sends no completed event).
func (s *Swarm) announceCompleted(ctx context.Context, trackers []string, ih metainfo.Hash, id [20]byte, port int) {
	for _, tr := range trackers {
		u, ok := announceURL(tr, ih, id, port, 0, "completed")
		if !ok {
			continue
		}
		_, a, err := s.announceTo(ctx, u)
		s.log.Debug("announced completed", "torrent", ih, "tracker", tr, "seeds", a.seeds, "err", err)
	}
}

// leaveWait bounds how long Close tells the trackers that this host
// leaves its swarms, leaveAtOnce the announces it sends at once.
const (
	leaveWait   = 2 * time.Second
	leaveAtOnce = 16
)

// leave tells the HTTP trackers of every torrent in the client that this
// host leaves its swarm (event stopped, as the engine's port), within
// leaveWait: until the trackers forget it, the fills of the other hosts
// would rank it for pieces it no longer fetches (members) and wait a
// turn for each. The engine announces stopped too, in the background as
// it closes, not waited for: a process that ends right after Close ends
// before.
func (s *Swarm) leave() {
	type one struct {
		ih       metainfo.Hash
		trackers []string
	}
	var all []one
	s.mu.Lock()
	for ih, it := range s.items {
		if it.t != nil && len(it.trackers) > 0 {
			all = append(all, one{ih, it.trackers})
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), leaveWait)
	defer cancel()
	id, port := s.cl.PeerID(), s.cl.LocalPort()
	sem := make(chan struct{}, leaveAtOnce)
	var wg sync.WaitGroup
	for _, o := range all {
		for _, tr := range o.trackers {
			u, ok := announceURL(tr, o.ih, id, port, 0, "stopped")
			if !ok {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.log.Debug("leaving the swarms: out of time", "torrents", len(all))
				wg.Wait()
				return
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				_, _, err := s.announceTo(ctx, u)
				s.log.Debug("announced stopped", "torrent", o.ih, "tracker", tr, "err", err)
			}()
		}
	}
	wg.Wait()
}

// appendCompact appends the peers of b, each an address of n bytes and
// a port, to list; a partial entry at the end is left out.
func appendCompact(list []netip.AddrPort, b []byte, n int) []netip.AddrPort {
	for len(b) >= n+2 {
		a, _ := netip.AddrFromSlice(b[:n])
		port := uint16(b[n])<<8 | uint16(b[n+1])
		list = append(list, netip.AddrPortFrom(a.Unmap(), port))
		b = b[n+2:]
	}
	return list
}

// addrKey is the rank key of the host at address a for the torrent ih
// (FNV-1a, as rankKey): the address as 16 bytes, the port, the info hash.
func addrKey(a netip.AddrPort, ih [20]byte) uint64 {
	b16 := a.Addr().Unmap().As16()
	return fnv1a(fnv1a(fnv1a(fnvOffset, b16[:]), []byte{byte(a.Port() >> 8), byte(a.Port())}), ih[:])
}
