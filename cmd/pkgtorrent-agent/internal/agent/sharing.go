package agent

// Who a torrent is shared with and announced to: private torrents (of a
// mirror that needs a client certificate) and the trackers a torrent may
// name.

import (
	"net/url"

	"github.com/anacrolix/torrent/metainfo"
)

// shared reports whether it is shared with peers: any torrent but a
// private one when the peer-network setting is not set. With the setting,
// the engine refuses every peer outside its networks and never dials one
// (engine.Config's block list), for every torrent, private ones included.
func (s *Swarm) shared(it *item) bool {
	return !it.private || len(s.cfg.PeerNetworks) > 0
}

// makePrivateLocked makes it private (see item.private): marked so in
// the store, and, when no longer shared, uploading nothing from now on.
// It stays announced until it is added to the client again.
func (s *Swarm) makePrivateLocked(it *item) {
	it.private = true
	if err := s.markPrivate(it.ih); err != nil {
		s.storeProblem(err)
	}
	if it.t != nil && !s.shared(it) {
		it.t.DisallowDataUpload()
	}
}

// announceList returns the trackers a torrent is announced to, one per
// tier: the tracker setting when it is set; else the torrent's own on
// the host name of its mirror (a tracker beside the mirror), that is the
// host of fileURL, or for a torrent of the store not asked for since the
// start, of its web seeds. The other trackers of the torrent are
// returned as dropped: a torrent cannot make the agent contact hosts of
// its choosing.
func (s *Swarm) announceList(mi *metainfo.MetaInfo, fileURL string) (tiers [][]string, dropped []string) {
	if len(s.cfg.Trackers) > 0 {
		return [][]string{s.cfg.Trackers}, nil
	}
	hosts := map[string]bool{}
	if u, err := url.Parse(fileURL); err == nil && fileURL != "" {
		hosts[u.Hostname()] = true
	} else {
		for _, ws := range mi.UrlList {
			if u, err := url.Parse(ws); err == nil {
				hosts[u.Hostname()] = true
			}
		}
	}
	for _, tier := range mi.UpvertedAnnounceList() {
		for _, tr := range tier {
			if u, err := url.Parse(tr); err == nil && hosts[u.Hostname()] && u.Hostname() != "" {
				tiers = append(tiers, []string{tr})
			} else {
				dropped = append(dropped, tr)
			}
		}
	}
	return tiers, dropped
}
