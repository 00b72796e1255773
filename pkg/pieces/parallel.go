package pieces

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// HashAt returns the same digests as Hash (or HashHybrid when v2 is set)
// over the first size bytes of r. It fails when r holds fewer than size
// bytes.
//
// v1 digests are computed along the Path that Chosen returns. In the
// lane engine (lanes.go) that is 16 pieces per core at once, shared with
// every other HashAt call of the process, and workers is not used.
// Otherwise, and for v2 digests, up to workers goroutines hash one piece
// each, taking pieces in file order, so the reads stay close to
// sequential.
func HashAt(r io.ReaderAt, size, pieceLength int64, v2 bool, workers int) (*Digests, error) {
	if v2 {
		return hashAt(r, size, pieceLength, true, workers, SHA1Read)
	}
	return hashAt(r, size, pieceLength, false, workers, Chosen().Path)
}

// hashAtPath is HashAt of v1 digests along path p.
func hashAtPath(r io.ReaderAt, size, pieceLength int64, workers int, p Path) (*Digests, error) {
	return hashAt(r, size, pieceLength, false, workers, p)
}

func hashAt(r io.ReaderAt, size, pieceLength int64, v2 bool, workers int, p Path) (*Digests, error) {
	if !ValidLength(pieceLength) {
		return nil, fmt.Errorf("hash: %d: %w", pieceLength, ErrPieceLength)
	}
	if size < 0 {
		return nil, fmt.Errorf("hash: negative size %d", size)
	}
	n := (size + pieceLength - 1) / pieceLength
	d := &Digests{PieceLength: pieceLength, Size: size, V2: v2, Padded: make([]byte, n*HashSize)}
	if v2 {
		d.Layer = make([]byte, n*V2Size)
	}
	if p.lanes() && !v2 {
		if err := hashLanes(r, size, pieceLength, d, p == LanesMapped); err != nil {
			return nil, err
		}
		return d, nil
	}
	workers = int(max(1, min(int64(workers), n)))
	var (
		next     atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if failed.Load() || next.Load() >= n {
				return
			}
			ph := newPieceHasher(d)
			defer ph.release()
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				off := i * pieceLength
				data := min(pieceLength, size-off)
				ph.start()
				for at := int64(0); at < data; {
					b := ph.buf[:min(int64(len(ph.buf)), data-at)]
					if m, err := r.ReadAt(b, off+at); m < len(b) {
						if err == nil || err == io.EOF {
							err = io.ErrUnexpectedEOF
						}
						errOnce.Do(func() { firstErr = fmt.Errorf("hash: piece %d at byte %d: %w", i, off+at, err) })
						failed.Store(true)
						return
					}
					ph.write(b)
					at += int64(len(b))
				}
				ph.finish(i, data)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if v2 {
		d.finishRoot()
	}
	return d, nil
}
