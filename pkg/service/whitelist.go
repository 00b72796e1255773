package service

import (
	"encoding/hex"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/accesslist"
)

// WhitelistMax bounds the tracker's whitelist: far above the packages of
// any mirror, and a file of about 40 MiB.
const WhitelistMax = 1 << 20

// allowOnTracker puts the info hashes of a torrent the service answers
// with on the tracker's whitelist (tracker-whitelist): the v1 hash, and
// for a hybrid torrent the first 20 bytes of the v2 one, which is what
// v2 clients announce. A failure is logged once a minute; the torrent is
// answered all the same (its peers then find each other only through
// the web seed and the DHT).
func (s *Service) allowOnTracker(h infoHashes) {
	if s.whitelist == nil {
		return
	}
	hashes := []accesslist.Hash{h.v1}
	if h.v2 != ([32]byte{}) {
		hashes = append(hashes, accesslist.Hash(h.v2[:20]))
	}
	changed, err := s.whitelist.Allow(hashes...)
	if err != nil {
		if s.whitelistLog.allow(s.now()) {
			s.log.Warn("the tracker's whitelist was not updated: the tracker refuses this torrent's announces (logged once a minute)",
				"path", s.whitelist.Path(), "err", err)
		}
		return
	}
	if changed {
		s.log.Info("info hash added to the tracker's whitelist", "info_hash", hex.EncodeToString(h.v1[:]), "path", s.whitelist.Path())
	}
}
