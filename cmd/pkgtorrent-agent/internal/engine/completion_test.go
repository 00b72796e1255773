package engine

import (
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// TestCompletion: a piece is unknown until it was hashed, and unknown
// again once its torrent is forgotten.
func TestCompletion(t *testing.T) {
	c := NewCompletion()
	k := metainfo.PieceKey{InfoHash: metainfo.Hash{1}, Index: 3}
	if got, _ := c.Get(k); got.Ok {
		t.Fatalf("a new completion knows piece 3: %+v", got)
	}
	c.Set(k, true)
	if got, _ := c.Get(k); !got.Ok || !got.Complete {
		t.Errorf("after Set(true): %+v, want known and complete", got)
	}
	c.Set(k, false)
	if got, _ := c.Get(k); !got.Ok || got.Complete {
		t.Errorf("after Set(false): %+v, want known and not complete", got)
	}
	c.Forget(k.InfoHash)
	if got, _ := c.Get(k); got.Ok {
		t.Errorf("after Forget: %+v, want unknown", got)
	}
}
