package engine

import (
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// Completion records which pieces verified, in memory only. Nothing on
// disk is ever taken as complete: after a restart, or when a dropped
// torrent is added again, every piece is unknown until it is hashed
// again (anacrolix's own default infers completion from file names and
// sizes, which would seed a corrupted file as good).
type Completion struct {
	mu sync.Mutex
	m  map[metainfo.Hash]map[int]bool
}

var _ storage.PieceCompletion = (*Completion)(nil)

// NewCompletion records nothing yet.
func NewCompletion() *Completion {
	return &Completion{m: map[metainfo.Hash]map[int]bool{}}
}

// Get reports what is known of piece k: Ok is false until it was hashed.
func (c *Completion) Get(k metainfo.PieceKey) (storage.Completion, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	done, ok := c.m[k.InfoHash][k.Index]
	return storage.Completion{Ok: ok, Complete: done}, nil
}

// Set records the outcome of hashing piece k.
func (c *Completion) Set(k metainfo.PieceKey, complete bool) error {
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

// Forget drops what is known of a torrent, so that adding it again
// hashes its data again.
func (c *Completion) Forget(ih metainfo.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, ih)
}

// Close does nothing: there is nothing on disk.
func (c *Completion) Close() error { return nil }
