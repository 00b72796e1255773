package agent

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

// rehashAtOnce bounds the stored files hashed at once after a restart:
// each holds a descriptor, and a few files keep every core busy.
const rehashAtOnce = 8

// verifyStored hashes the stored file at path of torrent t with package
// pieces (the path measured fastest on this machine, on every core: the
// service's own hashing) and records each piece as complete or not in the
// engine's completion, so that the engine hashes nothing of it itself.
// Bytes the file lacks (a download cut short) are pieces not complete.
// It fails when the file cannot be read or the torrent's piece length is
// one package pieces does not take; the caller then has the engine hash
// it.
func (s *Swarm) verifyStored(t *torrent.Torrent, path string) error {
	info := t.Info()
	if info == nil || !pieces.ValidLength(info.PieceLength) {
		return fmt.Errorf("piece length %d", info.PieceLength)
	}
	s.rehash <- struct{}{}
	defer func() { <-s.rehash }()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	start := time.Now()
	d, err := pieces.HashAt(f, min(fi.Size(), info.TotalLength()), info.PieceLength, false, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	defer func() {
		s.log.Debug("stored file hashed", "path", path, "bytes", d.Size, "took", time.Since(start), "hashing", pieces.Chosen().Path.String())
	}()
	// One file: its last piece is its bare tail.
	got, want := d.Unpadded(), info.Pieces
	ih := t.InfoHash()
	for i := range t.NumPieces() {
		at := i * pieces.HashSize
		ok := at+pieces.HashSize <= len(got) && bytes.Equal(got[at:at+pieces.HashSize], want[at:at+pieces.HashSize])
		s.done.Set(metainfo.PieceKey{InfoHash: ih, Index: i}, ok)
		t.Piece(i).UpdateCompletion()
	}
	return nil
}
