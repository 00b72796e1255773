package storage

// pkgtorrent: this file is not in the release (PATCHED.md, change 7).

import (
	"container/list"
	"errors"
	"io/fs"
	"os"
	"sync"
)

// maxHeldFiles bounds the descriptors a file client keeps open between
// the reads and writes of its torrents.
const maxHeldFiles = 64

// heldFiles keeps the files of a client's open torrents open between reads
// and writes, instead of opening and closing a file for each block read or
// written: up to max descriptors not in use, the least recently used
// closed first; a file in use stays open until its last user is done.
// A torrent's files are closed when its storage is (Close: before the
// engine's Drop returns), so a file deleted after that is not held, and a
// torrent added again opens its files afresh. Only the classic file I/O
// (pread and pwrite) goes through it.
type heldFiles struct {
	mu    sync.Mutex
	max   int
	byKey map[heldKey]*heldFile
	lru   list.List // of *heldFile, the most recently used in front
}

type heldKey struct {
	t    *fileTorrentImpl
	path string
}

type heldFile struct {
	key  heldKey
	f    *os.File
	rw   bool // opened for reading and writing
	refs int
	gone bool // out of byKey: closed when its last user is done
	elem *list.Element
}

func newHeldFiles(max int) *heldFiles {
	return &heldFiles{max: max, byKey: make(map[heldKey]*heldFile)}
}

// open returns path of t, opened for writing too when write is set (and
// then created, with its folders, if missing). A file opened for reading
// only does not exist is fs.ErrNotExist, as os.Open says.
func (h *heldFiles) open(t *fileTorrentImpl, path string, write bool) (*heldRef, error) {
	key := heldKey{t, path}
	h.mu.Lock()
	if e := h.byKey[key]; e != nil && (e.rw || !write) {
		e.refs++
		h.lru.MoveToFront(e.elem)
		h.mu.Unlock()
		return &heldRef{h: h, e: e}, nil
	}
	h.mu.Unlock()
	f, rw, err := openHeld(path, write)
	if err != nil {
		return nil, err
	}
	e := &heldFile{key: key, f: f, rw: rw, refs: 1}
	var toClose []*os.File
	h.mu.Lock()
	if t.heldClosed {
		// Its storage is closed: not held, closed by the caller's Close.
		e.gone = true
		h.mu.Unlock()
		return &heldRef{h: h, e: e}, nil
	}
	if old := h.byKey[key]; old != nil {
		if old.rw || !write {
			// Opened meanwhile by another user: share it.
			old.refs++
			h.lru.MoveToFront(old.elem)
			h.mu.Unlock()
			f.Close()
			return &heldRef{h: h, e: old}, nil
		}
		toClose = h.forgetLocked(old, toClose)
	}
	h.byKey[key] = e
	e.elem = h.lru.PushFront(e)
	toClose = h.trimLocked(toClose)
	h.mu.Unlock()
	closeAll(toClose)
	return &heldRef{h: h, e: e}, nil
}

// openHeld opens path for reading and writing; for reading only when write
// is not set and the file may only be read.
func openHeld(path string, write bool) (f *os.File, rw bool, err error) {
	if write {
		f, err = openFileExtra(path, os.O_RDWR)
		return f, err == nil, err
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		f, err = os.Open(path)
		return f, false, err
	}
	return f, err == nil, err
}

// forgetLocked takes e out of the cache; its file is closed now (appended
// to toClose) if no one uses it, else by its last user.
func (h *heldFiles) forgetLocked(e *heldFile, toClose []*os.File) []*os.File {
	delete(h.byKey, e.key)
	h.lru.Remove(e.elem)
	e.gone = true
	if e.refs == 0 {
		toClose = append(toClose, e.f)
	}
	return toClose
}

// trimLocked closes the least recently used files no one uses while more
// than max are held.
func (h *heldFiles) trimLocked(toClose []*os.File) []*os.File {
	for el := h.lru.Back(); el != nil && len(h.byKey) > h.max; {
		prev := el.Prev()
		if e := el.Value.(*heldFile); e.refs == 0 {
			toClose = h.forgetLocked(e, toClose)
		}
		el = prev
	}
	return toClose
}

// closeTorrent closes the files of t, now or when their users are done,
// and holds none of them again.
func (h *heldFiles) closeTorrent(t *fileTorrentImpl) {
	var toClose []*os.File
	h.mu.Lock()
	t.heldClosed = true
	for key, e := range h.byKey {
		if key.t == t {
			toClose = h.forgetLocked(e, toClose)
		}
	}
	h.mu.Unlock()
	closeAll(toClose)
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// heldRef is one use of a held file: reads and writes at offsets (safe
// for concurrent use), then Close, which only ends the use.
type heldRef struct {
	h    *heldFiles
	e    *heldFile
	done bool // guarded by h.mu
}

func (r *heldRef) ReadAt(b []byte, off int64) (int, error) { return r.e.f.ReadAt(b, off) }

func (r *heldRef) WriteAt(b []byte, off int64) (int, error) { return r.e.f.WriteAt(b, off) }

func (r *heldRef) Close() error {
	h := r.h
	h.mu.Lock()
	if r.done {
		h.mu.Unlock()
		return nil
	}
	r.done = true
	r.e.refs--
	var toClose []*os.File
	if r.e.refs == 0 {
		if r.e.gone {
			toClose = append(toClose, r.e.f)
		} else {
			toClose = h.trimLocked(toClose)
		}
	}
	h.mu.Unlock()
	closeAll(toClose)
	return nil
}
