package infocache

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/cachefile"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
)

// Entry is one cached torrent.
type Entry struct {
	// Request is the text whose SHA-1 names the entry: the "\n"-joined
	// paths of a digest request, or a NUL, "single\n" and the
	// "\n"-joined matched files of a single-mode request.
	Request string
	// Settings identifies everything besides the files that shaped the
	// info (format, piece length, private flag, service name, document
	// root); an entry made under other settings is rebuilt.
	Settings string
	// Single reports a single-file torrent.
	Single bool
	// Paths are the files, in torrent order, relative to the document root.
	Paths []string
	// Stamps are the files' versions when the info was built.
	Stamps []piececache.Stamp
	// Info is the bencoded info dictionary.
	Info []byte
	// PieceLayers is the bencoded "piece layers" dictionary of a hybrid
	// torrent, which lies beside info; empty otherwise.
	PieceLayers []byte
	// Built is when the info was built: the torrent's Last-Modified.
	Built time.Time

	// Used is the entry file's access time when Load opened it: the last
	// recorded use. It is not part of the encoded entry.
	Used time.Time
}

// Settings returns the Settings text of an entry built with these
// settings and document root. A private torrent's text has
// " private=1" after the piece length, a public one's no private part at
// all: the two never compare equal, whatever the service name and root.
func Settings(format string, pieceLength int64, private bool, serviceName, root string) string {
	priv := ""
	if private {
		priv = " private=1"
	}
	return fmt.Sprintf("format=%s piece-length=%d%s service-name=%s root=%s", format, pieceLength, priv, serviceName, root)
}

// RootOf returns the document root that a Settings text names, and false
// when it names none.
func RootOf(settings string) (string, bool) {
	_, root, ok := strings.Cut(settings, " root=")
	return root, ok && root != ""
}

// Key returns the name of the entry for request text: its SHA-1 in hex.
func Key(request string) string {
	sum := sha1.Sum([]byte(request))
	return hex.EncodeToString(sum[:])
}

// ErrCorrupt reports an entry that is truncated, damaged, of another
// version, or whose content does not belong under its name.
var ErrCorrupt = errors.New("corrupt info cache entry")

const (
	magic      = "PTIC"
	version    = 3
	flagSingle = 1
	// maxField bounds one length-prefixed field.
	maxField = 1 << 30
	// stampedPath is the size of one file's record without its path's
	// bytes: the path's length and the stamp.
	stampedPath = 4 + 5*8
)

// Encode returns the bytes of e. Layout, integers big-endian: magic
// "PTIC", version u16 (3), flags u16 (bit 0: single), then the request,
// the settings, the info and the piece layers as u32-length-prefixed
// strings, the build time (ns since the epoch, u64, 0 when unknown), the number of
// files u32 and per file its path (u32 length + bytes) and stamp (size,
// mtime ns, ctime ns, dev, ino: 5 × u64), and last a CRC-32C of everything
// before. Entries of version 2 (stamps without the ctime) are corrupt: a
// miss, rebuilt.
func Encode(e *Entry) []byte {
	n := 44 + len(e.Request) + len(e.Settings) + len(e.Info) + len(e.PieceLayers)
	for _, p := range e.Paths {
		n += stampedPath + len(p)
	}
	b := make([]byte, 0, n)
	var flags uint16
	if e.Single {
		flags = flagSingle
	}
	b = cachefile.AppendHeader(b, magic, version, flags)
	b = appendField(b, e.Request)
	b = appendField(b, e.Settings)
	b = appendField(b, string(e.Info))
	b = appendField(b, string(e.PieceLayers))
	var built uint64 // 0 for an unknown build time
	if !e.Built.IsZero() {
		built = uint64(e.Built.UnixNano())
	}
	b = binary.BigEndian.AppendUint64(b, built)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Paths)))
	for i, p := range e.Paths {
		b = appendField(b, p)
		st := e.Stamps[i]
		b = binary.BigEndian.AppendUint64(b, uint64(st.Size))
		b = binary.BigEndian.AppendUint64(b, uint64(st.MtimeNs))
		b = binary.BigEndian.AppendUint64(b, uint64(st.CtimeNs))
		b = binary.BigEndian.AppendUint64(b, st.Dev)
		b = binary.BigEndian.AppendUint64(b, st.Ino)
	}
	return cachefile.Seal(b)
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Decode parses entry bytes and checks them whole: magic, version,
// checksum, and that every length fits.
func Decode(b []byte) (*Entry, error) {
	flags, body, err := cachefile.Unseal(b, magic, version, flagSingle, ErrCorrupt)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body, p: cachefile.HeaderSize}
	e := &Entry{Single: flags == flagSingle}
	e.Request = d.field()
	e.Settings = d.field()
	e.Info = []byte(d.field())
	if l := d.field(); l != "" {
		e.PieceLayers = []byte(l)
	}
	if built := d.u64(); built != 0 {
		e.Built = time.Unix(0, int64(built))
	}
	n := d.u32()
	if d.err == nil && uint64(n)*stampedPath > uint64(len(body)-d.p) {
		d.err = fmt.Errorf("%w: %d files do not fit", ErrCorrupt, n)
	}
	for i := uint32(0); i < n && d.err == nil; i++ {
		e.Paths = append(e.Paths, d.field())
		st := piececache.Stamp{Size: int64(d.u64()), MtimeNs: int64(d.u64()), CtimeNs: int64(d.u64()), Dev: d.u64(), Ino: d.u64()}
		e.Stamps = append(e.Stamps, st)
	}
	if d.err == nil && d.p != len(body) {
		d.err = fmt.Errorf("%w: %d bytes left over", ErrCorrupt, len(body)-d.p)
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

type decoder struct {
	b   []byte
	p   int
	err error
}

func (d *decoder) need(n uint64) bool {
	if d.err == nil && uint64(len(d.b)-d.p) < n {
		d.err = fmt.Errorf("%w: truncated at byte %d", ErrCorrupt, d.p)
	}
	return d.err == nil
}

func (d *decoder) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.p:])
	d.p += 4
	return v
}

func (d *decoder) u64() uint64 {
	if !d.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b[d.p:])
	d.p += 8
	return v
}

func (d *decoder) field() string {
	n := d.u32()
	if n > maxField || !d.need(uint64(n)) {
		if d.err == nil {
			d.err = fmt.Errorf("%w: field of %d bytes", ErrCorrupt, n)
		}
		return ""
	}
	s := string(d.b[d.p : d.p+int(n)])
	d.p += int(n)
	return s
}

// Store is the info cache folder; entry key lives at Dir/key.
type Store struct {
	Dir string
}

// Path returns the file name of entry key.
func (s Store) Path(key string) string { return filepath.Join(s.Dir, key) }

// LockPath returns the name of the lock file that guards entry key (see
// package filelock).
func (s Store) LockPath(key string) string { return s.Path(key) + ".lock" }

// Load reads entry key and returns it with the time its files were last
// checked. An entry whose request text does not hash to key is ErrCorrupt.
// Reading it does not count as a use (cachefile.ReadQuietly): only
// MarkUsed moves e.Used, so that the kernel's relatime updates of the
// first of two loads cannot hide an old mark from the second.
func (s Store) Load(key string) (*Entry, time.Time, error) {
	e, fi, err := s.LoadStat(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	return e, fi.ModTime(), nil
}

// LoadStat is Load, returning the entry file's own FileInfo (taken from
// the open file, so it describes the bytes decoded): its ModTime is the
// last check, and with its size and inode it tells a later Stat whether
// the entry is still the one loaded.
func (s Store) LoadStat(key string) (*Entry, fs.FileInfo, error) {
	b, fi, err := cachefile.ReadQuietly(s.Path(key), maxField)
	if errors.Is(err, cachefile.ErrTooLarge) {
		return nil, nil, fmt.Errorf("info cache %s: %w: %w", key, ErrCorrupt, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("info cache: %w", err)
	}
	e, err := Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("info cache %s: %w", key, err)
	}
	if Key(e.Request) != key {
		return nil, nil, fmt.Errorf("info cache %s: %w: holds another request", key, ErrCorrupt)
	}
	e.Used = cachefile.LastUsed(fi)
	return e, fi, nil
}

// Stat returns the FileInfo of entry key's file. A stat does not count as
// a use, and cachefile.LastUsed of it is the entry's last recorded use.
func (s Store) Stat(key string) (fs.FileInfo, error) {
	fi, err := os.Stat(s.Path(key))
	if err != nil {
		return nil, fmt.Errorf("info cache: %w", err)
	}
	return fi, nil
}

// Save writes entry e under its key, atomically.
func (s Store) Save(e *Entry) error {
	return cachefile.WriteAtomic(s.Path(Key(e.Request)), Encode(e))
}

// MarkUsed records that a torrent was served from entry key at now, at
// most once a cachefile.MarkInterval, keeping the entry's check time. It
// reports whether it wrote the mark.
func (s Store) MarkUsed(key string, now time.Time) (bool, error) {
	return cachefile.MarkUsed(s.Path(key), now)
}

// Touch records that the files of entry key were checked at t (and, in
// passing, that it was used at t).
func (s Store) Touch(key string, t time.Time) error {
	if err := os.Chtimes(s.Path(key), t, t); err != nil {
		return fmt.Errorf("info cache: %w", err)
	}
	return nil
}
