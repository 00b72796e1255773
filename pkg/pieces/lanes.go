package pieces

import (
	"crypto/sha1"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces/internal/sha1x16"
)

// The lane engine hashes v1 pieces with package sha1x16, 16 pieces per
// core in lockstep. Its workers (one per core, started on first use) take
// pieces from every file being hashed in the process, so the many small
// files of a package transaction fill the lanes as well as one large
// file's pieces do. A piece is streamed through its lane in chunks, so a
// worker holds 16 chunk buffers whatever the piece length.
//
// Every piece of the padded layout is a whole piece long: a file's last
// piece is its tail followed by zeros. So every lane runs the same number
// of blocks per piece (the piece, then the padding block of a message of
// the piece length), and lanes differ only in where their blocks come
// from: the lane's buffer, a shared zero buffer, or the padding block. The
// digest of the bare tail (the last piece of a torrent's last file) is
// finished in crypto/sha1 from the lane's state at the tail's last whole
// block, so the tail is read and hashed once for both digests.

// laneChunk is the most a lane reads at once.
const laneChunk = 128 << 10

// laneMinimum is the fewest pieces worth starting the lanes for: an idle
// worker hashes fewer ones with crypto/sha1, which is faster per piece.
// Tests change it (with no HashAt running) to force either path.
var laneMinimum = 3

// zeroChunk is read by lanes in their padding and by idle lanes.
var zeroChunk = make([]byte, laneChunk)

// batch is one HashAt call's pieces.
type batch struct {
	r io.ReaderAt
	f *os.File // when set, lanes map the file instead of reading r
	// unmappable is set once mapping f failed (a file system without
	// mmap, say): the lanes read r from then on.
	unmappable  atomic.Bool
	size        int64
	pieceLength int64
	n           int64 // pieces
	next        int64 // next piece to hand out, under engine.mu
	d           *Digests

	failed  atomic.Bool
	errOnce sync.Once
	err     error
	left    atomic.Int64 // pieces not finished
	done    chan struct{}
}

func (b *batch) fail(err error) {
	b.errOnce.Do(func() { b.err = err })
	b.failed.Store(true)
}

// finish counts one piece done, and the batch when it was the last.
func (b *batch) finish() {
	if b.left.Add(-1) == 0 {
		close(b.done)
	}
}

// dataLen is the number of file bytes in piece i.
func (b *batch) dataLen(i int64) int64 {
	return min(b.pieceLength, b.size-i*b.pieceLength)
}

// readPiece reads length bytes of piece i from offset off within it.
func (b *batch) read(p []byte, i, off int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading: panic: %v", r)
		}
	}()
	at := i*b.pieceLength + off
	m, err := b.r.ReadAt(p, at)
	if m < len(p) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("hash: piece %d at byte %d: %w", i, at, err)
	}
	return nil
}

// engine is the process's lane engine.
var engine struct {
	start sync.Once
	mu    sync.Mutex
	cond  *sync.Cond
	queue []*batch
	turn  int // round robin over the queue
}

// hashLanes hashes the v1 pieces of d in the lane engine; with mapped,
// the lanes map r instead of reading it when it is an *os.File.
func hashLanes(r io.ReaderAt, size, pieceLength int64, d *Digests, mapped bool) error {
	n := int64(len(d.Padded) / HashSize)
	if n == 0 {
		return nil
	}
	engine.start.Do(func() {
		engine.cond = sync.NewCond(&engine.mu)
		laneWindow = windowFor(runtime.GOMAXPROCS(0))
		for range runtime.GOMAXPROCS(0) {
			go laneWorker()
		}
	})
	b := &batch{r: r, size: size, pieceLength: pieceLength, n: n, d: d, done: make(chan struct{})}
	if f, ok := r.(*os.File); ok && mapped && canMmap {
		b.f = f
	}
	b.left.Store(n)
	engine.mu.Lock()
	engine.queue = append(engine.queue, b)
	engine.mu.Unlock()
	engine.cond.Broadcast()
	<-b.done
	return b.err
}

// job is one piece handed to a worker.
type job struct {
	b *batch
	i int64
}

// take appends up to limit pieces to js, taking them in turn from the
// queued batches; with wait, it waits for at least one.
func take(js []job, limit int, wait bool) []job {
	engine.mu.Lock()
	defer engine.mu.Unlock()
	for wait && len(engine.queue) == 0 {
		engine.cond.Wait()
	}
	for len(js) < limit && len(engine.queue) > 0 {
		engine.turn %= len(engine.queue)
		b := engine.queue[engine.turn]
		js = append(js, job{b, b.next})
		b.next++
		if b.next == b.n {
			engine.queue = append(engine.queue[:engine.turn], engine.queue[engine.turn+1:]...)
		} else {
			engine.turn++
		}
	}
	return js
}

// lane is one piece on its way through a lane.
type lane struct {
	job
	active bool
	data   int64 // file bytes in the piece
	pos    int64 // bytes of the piece hashed
	tailed bool  // the bare tail's digest is done
	buf    []byte
	bufAt  int64 // piece offset of buf[0]
	bufLen int64 // bytes of buf holding the piece (whole blocks)
	pad    [sha1x16.BlockSize]byte

	// A mapped file (batch.f) is read in place, a window at a time:
	// win maps the piece from offset winAt; stage holds the file's last
	// partial block followed by zeros.
	win   []byte
	winAt int64
	stage [sha1x16.BlockSize]byte
}

// laneWindow is the most of a piece a lane maps at once. The file pages
// the process has mapped count in its RSS (they are the page cache's,
// not its own): 16 windows per core, about 32 MiB in all up to 8 cores,
// with 1 MiB windows on 2 cores (256 KiB at least: each window costs an
// mmap and a munmap). Set when the engine starts.
var laneWindow int64 = 1 << 20

// windowFor returns laneWindow for procs cores.
func windowFor(procs int) int64 {
	return max(256<<10, min(1<<20, (32<<20)/int64(sha1x16.Lanes*procs)))
}

// mapWindow maps a window of a file; tests make it fail.
var mapWindow = mapFile

// unmap releases the lane's window.
func (ln *lane) unmap() {
	if ln.win != nil {
		unmapFile(ln.win)
		ln.win = nil
	}
}

func laneWorker() {
	// A mapped file truncated under a lane raises SIGBUS: a panic that
	// laneStep recovers, rather than the end of the process.
	debug.SetPanicOnFault(true)
	var (
		state sha1x16.State
		lanes [sha1x16.Lanes]lane
		ptrs  [sha1x16.Lanes]*byte
		js    []job
	)
	for l := range lanes {
		lanes[l].buf = make([]byte, laneChunk)
	}
	scalarBuf := make([]byte, laneChunk)
	for {
		// Idle: wait for work; hash a few pieces with crypto/sha1.
		js = skipFailed(take(js[:0], sha1x16.Lanes, true))
		if len(js) < laneMinimum {
			for _, j := range js {
				hashScalar(j, scalarBuf)
			}
			continue
		}
		active := 0
		for _, j := range js {
			startLane(&lanes[active], &state, active, j)
			active++
		}
		for active > 0 {
			step, fault := laneStep(&state, &lanes, &ptrs)
			if fault != nil {
				// Every lane's state is lost. A memory fault is a
				// mapped file that shrank under a lane (SIGBUS,
				// made a panic by SetPanicOnFault, whose panic
				// value has an Addr method): the files fail with
				// ErrUnexpectedEOF, which HashFile answers by
				// checking each file and hashing it again. Any
				// other panic is a bug: the files fail with it, an
				// internal error, and the process goes on.
				err := fmt.Errorf("the SHA-1 lanes stopped: %v", fault)
				if _, ok := fault.(interface{ Addr() uintptr }); ok {
					err = fmt.Errorf("%w: a mapped file shrank while it was read (%v)", io.ErrUnexpectedEOF, fault)
				}
				for l := range lanes {
					ln := &lanes[l]
					if ln.active {
						ln.b.fail(fmt.Errorf("hash: piece %d: %w", ln.i, err))
						ln.unmap()
						ln.active = false
						ln.b.finish()
						active--
					}
				}
				continue
			}
			for l := range lanes {
				ln := &lanes[l]
				if !ln.active {
					continue
				}
				ln.pos += int64(step) * sha1x16.BlockSize
				if ln.pos == ln.b.pieceLength+sha1x16.BlockSize {
					sum := state.Sum(l)
					copy(ln.b.d.Padded[ln.i*HashSize:], sum[:])
					ln.unmap()
					ln.active = false
					ln.b.finish()
					active--
				}
			}
			// Refill the idle lanes.
			if active < sha1x16.Lanes {
				js = skipFailed(take(js[:0], sha1x16.Lanes-active, false))
				for l := 0; len(js) > 0 && l < sha1x16.Lanes; l++ {
					if !lanes[l].active {
						startLane(&lanes[l], &state, l, js[0])
						js = js[1:]
						active++
					}
				}
			}
		}
	}
}

// skipFailed finishes the pieces of js whose batch failed, without
// hashing them, and returns the others.
func skipFailed(js []job) []job {
	out := js[:0]
	for _, j := range js {
		if j.b.failed.Load() {
			j.b.finish()
			continue
		}
		out = append(out, j)
	}
	return out
}

// laneStep runs every active lane's next blocks: as many as the shortest
// run among them. It returns the number of blocks, or the fault that
// stopped it.
func laneStep(state *sha1x16.State, lanes *[sha1x16.Lanes]lane, ptrs *[sha1x16.Lanes]*byte) (step int, fault any) {
	defer func() {
		if r := recover(); r != nil {
			fault = r
		}
	}()
	step = laneChunk / sha1x16.BlockSize
	for l := range lanes {
		ln := &lanes[l]
		if !ln.active {
			ptrs[l] = &zeroChunk[0]
			continue
		}
		p, blocks := ln.run(state, l)
		ptrs[l] = p
		step = min(step, blocks)
	}
	sha1x16.Blocks(state, ptrs, step)
	return step, nil
}

// startLane puts piece j into lane l.
func startLane(ln *lane, s *sha1x16.State, l int, j job) {
	ln.unmap()
	*ln = lane{job: j, active: true, buf: ln.buf, data: j.b.dataLen(j.i)}
	ln.pad = sha1x16.PadBlock(j.b.pieceLength)
	s.Reset(l)
}

// run returns where lane l's next blocks are and how many there are,
// reading the next chunk of its piece when its buffer is used up. A lane
// whose batch failed, or whose read fails, runs on zeros: its digest is
// never used.
func (ln *lane) run(s *sha1x16.State, l int) (*byte, int) {
	const bs = sha1x16.BlockSize
	b := ln.b
	if ln.pos >= b.pieceLength {
		return &ln.pad[0], 1
	}
	if b.failed.Load() {
		return ln.zeros()
	}
	dataEnd := (ln.data + bs - 1) / bs * bs // the data's blocks, the last one zero-filled
	if b.f != nil && !b.unmappable.Load() {
		return ln.runMapped(s, l, dataEnd)
	}
	if ln.pos < dataEnd && ln.pos >= ln.bufAt+ln.bufLen {
		want := min(int64(len(ln.buf)), ln.data-ln.pos)
		if err := b.read(ln.buf[:want], ln.i, ln.pos); err != nil {
			b.fail(err)
			return ln.zeros()
		}
		ln.bufAt = ln.pos
		ln.bufLen = (want + bs - 1) / bs * bs
		clear(ln.buf[want:ln.bufLen])
	}
	whole := ln.data / bs * bs
	if ln.atTail(whole) {
		// The bytes after the tail's last whole block, if any, are
		// in the buffer, just read.
		ln.sumTail(s, l, ln.buf, ln.bufAt)
	}
	if ln.pos >= dataEnd {
		return ln.zeros()
	}
	end := ln.bufAt + ln.bufLen
	if ln.data < b.pieceLength && !ln.tailed {
		end = min(end, whole) // stop at the tail's last whole block
	}
	return &ln.buf[ln.pos-ln.bufAt], int((end - ln.pos) / bs)
}

// runMapped is run for a mapped file: the lane's blocks come from its
// window of the file, mapped as needed, except the last partial block,
// copied to stage and zero-filled.
func (ln *lane) runMapped(s *sha1x16.State, l int, dataEnd int64) (*byte, int) {
	const bs = sha1x16.BlockSize
	b := ln.b
	if ln.pos < ln.data && ln.pos >= ln.winAt+int64(len(ln.win)) {
		// Windows start at multiples of laneWindow (or of the piece
		// length, if smaller) in the piece: page-aligned.
		ln.unmap()
		w, err := mapWindow(b.f, ln.i*b.pieceLength+ln.pos, min(laneWindow, ln.data-ln.pos))
		if err != nil {
			// Read it instead, from here on, this lane and the
			// others: run starts reading at the lane's position.
			b.unmappable.Store(true)
			return ln.run(s, l)
		}
		ln.win, ln.winAt = w, ln.pos
	}
	whole := ln.data / bs * bs
	if ln.atTail(whole) {
		tail := ln.sumTail(s, l, ln.win, ln.winAt)
		clear(ln.stage[:])
		copy(ln.stage[:], tail)
	}
	switch {
	case ln.pos >= dataEnd:
		return ln.zeros()
	case ln.pos >= whole:
		return &ln.stage[0], 1
	}
	end := min(ln.winAt+int64(len(ln.win)), whole)
	return &ln.win[ln.pos-ln.winAt], int((end - ln.pos) / bs)
}

// zeros returns the zero blocks that run lane ln to the end of its piece
// (a chunk at most), unmapping its window: past its data, or when its
// digest is not going to be used.
func (ln *lane) zeros() (*byte, int) {
	ln.unmap()
	return &zeroChunk[0], int(min(int64(len(zeroChunk)), ln.b.pieceLength-ln.pos) / sha1x16.BlockSize)
}

// atTail reports whether lane ln holds a partial piece (a file's tail)
// and has reached whole, its last whole block, without the bare tail's
// digest.
func (ln *lane) atTail(whole int64) bool {
	return ln.data < ln.b.pieceLength && !ln.tailed && ln.pos == whole
}

// sumTail finishes the digest of the bare tail in lane l, at its last
// whole block (see atTail), from the lane's state and the bytes after that
// block, which p holds from piece offset at when there are any. It returns
// those bytes.
func (ln *lane) sumTail(s *sha1x16.State, l int, p []byte, at int64) []byte {
	h := sha1.New()
	if err := s.Resume(l, ln.pos, h); err != nil {
		panic(err) // ln.pos is a multiple of the block size
	}
	var rest []byte
	if ln.data > ln.pos {
		rest = p[ln.pos-at : ln.data-at]
	}
	h.Write(rest)
	h.Sum(ln.b.d.Tail[:0])
	ln.tailed = true
	return rest
}

// hashScalar hashes piece j with crypto/sha1, reading it through buf.
func hashScalar(j job, buf []byte) {
	b := j.b
	defer b.finish()
	if b.failed.Load() {
		return
	}
	data := j.b.dataLen(j.i)
	h := sha1.New()
	for off := int64(0); off < data; {
		p := buf[:min(int64(len(buf)), data-off)]
		if err := b.read(p, j.i, off); err != nil {
			b.fail(err)
			return
		}
		h.Write(p)
		off += int64(len(p))
	}
	if data < b.pieceLength {
		h.Sum(b.d.Tail[:0])
		clear(buf)
		for z := b.pieceLength - data; z > 0; {
			m := min(z, int64(len(buf)))
			h.Write(buf[:m])
			z -= m
		}
	}
	h.Sum(b.d.Padded[j.i*HashSize : j.i*HashSize])
}

// FilesAtOnce is how many files a caller hashing many files should keep
// going: when it hashes v1 pieces only (v2 false) in the lane engine,
// twice the pieces the engine hashes at once (16 per core), so that the
// lanes stay full while some files are being opened, locked or cached;
// else one per core, since each file then hashes with its own buffers.
func FilesAtOnce(v2 bool) int {
	if !v2 && Chosen().Path.lanes() {
		return 2 * sha1x16.Lanes * runtime.GOMAXPROCS(0)
	}
	return runtime.GOMAXPROCS(0)
}
