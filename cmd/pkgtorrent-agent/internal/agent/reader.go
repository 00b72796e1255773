package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
)

// mirrorFallback is what a swarmReader needs to stream from the mirror
// when the swarm does not deliver.
type mirrorFallback struct {
	origin *http.Client
	// stall is how long the torrent may make no progress; the reader
	// waits grace more (origin-after) before it streams from the mirror:
	// the fill, after stall without progress, fetches every missing
	// piece in order (fill.go), and its bytes are progress. So a torrent
	// stuck on every host costs each the mirror one copy, not the
	// fill's and the stream's.
	stall, grace time.Duration
	// bytes counts the bytes streamed from the mirror.
	bytes *atomic.Int64
	// piece fetches piece i of it from the mirror into the store, where
	// it verifies as if from a peer (the fill's fetch).
	piece func(ctx context.Context, it *item, i int) error
	log   *slog.Logger
}

// swarmReader reads a file through its torrent: only bytes of pieces
// that verified. When the torrent makes no progress for stall and grace
// (no byte of it arrives, from peers or the mirror), or when the store
// fails, it
// streams the rest straight from the mirror (the torrent goes on in the
// swarm). It waits on the torrent's progress, not on the request's own
// next piece, since hosts that start a file together fetch different
// pieces from the mirror (see fill); and on bytes, not on verified
// pieces, since on a busy host or behind a busy mirror a piece can take
// longer than stall while its blocks keep coming. When its next piece
// has not come for 4 x stall while the torrent progresses (a swarm busy
// with other pieces), it fetches that piece from the mirror into the
// torrent in its turn (Swarm.fetchLate: the host ranked first among
// those that lack it at once, the others up to stall later, unless it
// came from a peer meanwhile) and reads on; after such a piece the next
// ones wait stall at most. A swarm that slow would otherwise have every
// host that waits stream the whole file from the mirror at once (at 40
// hosts, 10 hosts of a 14 MiB package in one run), or fetch the same
// late piece each (39 hosts the first piece of one). 4 x stall and a
// turn of stall stay below dnf's limit of 30 s under 1000 bytes/s.
type swarmReader struct {
	ctx context.Context
	it  *item
	t   torrent.Reader
	url string
	fb  mirrorFallback
	pos int64
	// mirror is the mirror's answer from pos on, once fallen back.
	mirror   io.ReadCloser
	fellBack bool
	// slow holds once a piece came late (errSlowPiece): the next pieces
	// wait stall at most before they are fetched from the mirror.
	slow bool
	// want is the file's SHA-256 from the repo metadata (given to
	// /prefetch), checked while the file is read whole from its start:
	// on a mismatch the last bytes are withheld, so that the client sees
	// a short answer and takes the file from its next mirror.
	want   []byte
	sum    hash.Hash
	hashed int64
}

// newSwarmReader reads it, whose file is at fileURL at the mirror,
// checking its SHA-256 against want when want is not nil.
func newSwarmReader(ctx context.Context, it *item, fileURL string, want []byte, fb mirrorFallback) *swarmReader {
	r := &swarmReader{ctx: ctx, it: it, t: it.t.NewReader(), url: fileURL, fb: fb}
	if want != nil {
		r.want, r.sum = want, sha256.New()
	}
	r.t.SetReadahead(4 << 20)
	return r
}

func (r *swarmReader) Read(p []byte) (int, error) {
	start := r.pos
	n, err := r.read(p)
	if r.sum != nil && start != r.hashed {
		// A range: only whole reads from the start are checked.
		r.sum = nil
	}
	if r.sum == nil || n == 0 {
		return n, err
	}
	r.sum.Write(p[:n])
	r.hashed += int64(n)
	if start+int64(n) == r.it.length && !bytes.Equal(r.sum.Sum(nil), r.want) {
		r.fb.log.Warn("the file's SHA-256 differs from the repo metadata's; not handing it out", "torrent", r.it.name, "url", r.url)
		return 0, errSHA256
	}
	return n, err
}

var errSHA256 = errors.New("SHA-256 differs from the repo metadata's")

func (r *swarmReader) read(p []byte) (int, error) {
	if r.pos >= r.it.length {
		return 0, io.EOF
	}
	if !r.fellBack {
		n, err := r.readVerified(p)
		if err == errSlowPiece {
			r.slow = true
			piece := int(r.pos / r.it.t.Info().PieceLength)
			r.fb.log.Debug("the next piece is late while the torrent progresses; fetching it from the mirror in turn", "torrent", r.it.name, "piece", piece)
			if ferr := r.fb.piece(r.ctx, r.it, piece); ferr == nil {
				n, err = r.readVerified(p)
			} else if r.ctx.Err() != nil {
				return 0, r.ctx.Err()
			} else {
				r.fb.log.Info("fetching a late piece from the mirror", "torrent", r.it.name, "piece", piece, "err", ferr)
			}
			if err == errSlowPiece {
				err = errStalled
			}
		}
		if err != errStalled {
			return n, err
		}
		r.fb.log.Info("no verified bytes for a while, or the store failed; streaming the rest from the mirror",
			"torrent", r.it.name, "offset", r.pos, "err", r.it.failure())
		r.fellBack = true
	}
	if r.mirror == nil {
		body, err := r.openMirror()
		if err != nil {
			return 0, err
		}
		r.mirror = body
	}
	n, err := r.mirror.Read(p)
	r.pos += int64(n)
	r.fb.bytes.Add(int64(n))
	if err == io.EOF && r.pos < r.it.length {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// errStalled is readVerified's answer when the reader is to stream the
// rest from the mirror.
var errStalled = errors.New("no verified bytes for a while, or the store failed")

// errSlowPiece is readVerified's answer when the torrent progresses but
// the reader's next piece has not come within its wait (see
// swarmReader).
var errSlowPiece = errors.New("the next piece is late")

// readVerified waits for the piece at pos to verify and reads from it,
// or returns errStalled or errSlowPiece (see swarmReader). It sleeps until something
// it waits for happens: the engine's piece state changes of the torrent
// (a piece verified), the store's failure (a full disk, noticed at
// once rather than after the whole stall), the request's end, or the
// stall's deadline; it looks at nothing on a timer. (Not a read with a
// deadline: the engine logs every read that times out as an error.)
func (r *swarmReader) readVerified(p []byte) (int, error) {
	t := r.it.t
	piece := int(r.pos / t.Info().PieceLength)
	if !t.Piece(piece).State().Complete {
		if err := r.waitPiece(t, piece); err != nil {
			return 0, err
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.fb.stall)
	n, err := r.t.ReadContext(ctx, p)
	cancel()
	r.pos += int64(n)
	if n > 0 {
		return n, nil
	}
	// A verified piece that gives nothing: the answer ends short.
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return 0, err
}

// waitPiece waits for piece of t to verify (nil), or returns errStalled,
// errSlowPiece or the request's end (see readVerified and swarmReader).
func (r *swarmReader) waitPiece(t *torrent.Torrent, piece int) error {
	// Subscribed before the piece is looked at again, so that no change
	// between the two is missed.
	changes := t.SubscribePieceStateChanges()
	defer changes.Close()
	failed := r.it.failWake.Load()
	// Progress is the most bytes of the torrent seen so far: blocks
	// written from peers (verified or not: the engine's BytesCompleted)
	// and the fill's bytes from the mirror. Bytes of a piece that fails
	// its check are lost from the former, so a peer sending garbage does
	// not count twice.
	arrived := func() int64 { return t.BytesCompleted() + r.it.arriving.Load() }
	began, most := time.Now(), arrived()
	progress := began
	deadline := time.NewTimer(r.fb.stall)
	defer deadline.Stop()
	for !t.Piece(piece).State().Complete {
		if r.it.failure() != nil {
			return errStalled
		}
		stuck := time.Until(progress.Add(r.fb.stall + r.fb.grace))
		if stuck <= 0 {
			return errStalled
		}
		wait := 4 * r.fb.stall
		if r.slow {
			wait = r.fb.stall
		}
		late := time.Until(began.Add(wait))
		if late <= 0 {
			return errSlowPiece
		}
		deadline.Reset(min(stuck, late))
	wait:
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-failed.c:
			return errStalled
		case <-deadline.C:
		case c, ok := <-changes.Values:
			if !ok {
				// The torrent left the client.
				return errStalled
			}
			// Other changes (a chunk written, a hash begun) wait on.
			if !c.Complete {
				goto wait
			}
		}
		if a := arrived(); a > most {
			most, progress = a, time.Now()
		}
	}
	return nil
}

func (r *swarmReader) openMirror() (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	if r.pos > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.pos, 10)+"-")
	}
	resp, err := r.fb.origin.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	if err := checkRange(resp, r.pos, r.it.length-r.pos, r.it.length); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}

func (r *swarmReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.it.length
	}
	if off < 0 {
		return 0, errors.New("seek before the start")
	}
	if off == r.pos {
		return off, nil
	}
	if r.mirror != nil {
		r.mirror.Close()
		r.mirror = nil
	}
	if _, err := r.t.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	r.pos = off
	return off, nil
}

func (r *swarmReader) Close() error {
	if r.mirror != nil {
		r.mirror.Close()
	}
	return r.t.Close()
}
