package gc

import (
	"fmt"
	"math"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/accesslist"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/infocache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// list records the info hashes of kept info entry e (v1, and the
// truncated v2 that hybrid clients announce) when the whitelist is
// pruned.
func (c *collector) list(e *infocache.Entry) {
	if c.listed == nil {
		return
	}
	v2 := torrent.InfoHashV2(e.Info)
	c.listed[torrent.InfoHash(e.Info)] = true
	c.listed[accesslist.Hash(v2[:20])] = true
}

// pruneWhitelist takes off the tracker's whitelist the info hashes of
// torrents whose info entries are gone; the service adds a hash again
// when it answers with its torrent. Nothing is pruned in a dry run, or
// when some kept entry could not be read.
func (c *collector) pruneWhitelist() error {
	if c.listed == nil || c.opt.DryRun {
		return nil
	}
	if c.unread {
		c.log.Warn("gc: the tracker's whitelist is not pruned: some info entries could not be read", "path", c.opt.Whitelist)
		return nil
	}
	n, err := accesslist.New(c.opt.Whitelist, math.MaxInt).Prune(func(h accesslist.Hash) bool { return c.listed[h] })
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	c.res.Unlisted = n
	return nil
}
