package agent

import (
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// completion records which pieces verified, in memory only. Nothing on
// disk is ever taken as complete: after a restart, or when a dropped
// torrent is added again, every piece is unknown until it is hashed
// again (anacrolix's own default infers completion from file names and
// sizes, which would seed a corrupted file as good).
type completion struct {
	mu sync.Mutex
	m  map[metainfo.Hash]map[int]bool
}

var _ storage.PieceCompletion = (*completion)(nil)

func newCompletion() *completion {
	return &completion{m: map[metainfo.Hash]map[int]bool{}}
}

func (c *completion) Get(k metainfo.PieceKey) (storage.Completion, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	done, ok := c.m[k.InfoHash][k.Index]
	return storage.Completion{Ok: ok, Complete: done}, nil
}

func (c *completion) Set(k metainfo.PieceKey, complete bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.m[k.InfoHash]
	if t == nil {
		t = map[int]bool{}
		c.m[k.InfoHash] = t
	}
	t[k.Index] = complete
	return nil
}

// forget drops what is known of a torrent, so that adding it again
// hashes its data again.
func (c *completion) forget(ih metainfo.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, ih)
}

func (c *completion) Close() error { return nil }
