package piececache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

func digests(t testing.TB, size int, v2 bool) *pieces.Digests {
	t.Helper()
	data := bytes.Repeat([]byte("pkgtorrent"), size/10+1)[:size]
	hash := pieces.Hash
	if v2 {
		hash = pieces.HashHybrid
	}
	d, err := hash(bytes.NewReader(data), 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRoundTrip(t *testing.T) {
	st := Stamp{Size: 70000, MtimeNs: 1700000000e9, Dev: 3, Ino: 42}
	for _, v2 := range []bool{false, true} {
		for _, size := range []int{0, 1, 16384, 70000} {
			d := digests(t, size, v2)
			st.Size = int64(size)
			gotSt, got, err := Decode(Encode(st, d))
			if err != nil {
				t.Fatalf("v2=%v size %d: %v", v2, size, err)
			}
			if gotSt != st || got.V2 != v2 || !bytes.Equal(got.Padded, d.Padded) || got.Tail != d.Tail ||
				!bytes.Equal(got.Layer, d.Layer) || got.Root != d.Root || got.Size != d.Size {
				t.Errorf("v2=%v size %d: decoded entry differs from the encoded one", v2, size)
			}
		}
	}
}

func TestOldVersionIsCorrupt(t *testing.T) {
	b := Encode(Stamp{Size: 70000}, digests(t, 70000, false))
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
	if _, _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("version 1 entry: err = %v, want ErrCorrupt", err)
	}
}

func TestLoadWantsV2(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	st := Stamp{Size: 70000, MtimeNs: 5}
	if err := s.Save("yum/a.rpm", st, digests(t, 70000, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("yum/a.rpm", st, 16<<10, false); err != nil {
		t.Errorf("v1 load of a v1 entry: %v", err)
	}
	if _, err := s.Load("yum/a.rpm", st, 16<<10, true); !errors.Is(err, ErrStale) || !IsMiss(err) {
		t.Errorf("v2 load of a v1 entry: err = %v, want a stale miss", err)
	}
	if err := s.Save("yum/a.rpm", st, digests(t, 70000, true)); err != nil {
		t.Fatal(err)
	}
	for _, v2 := range []bool{false, true} {
		if d, err := s.Load("yum/a.rpm", st, 16<<10, v2); err != nil || !d.V2 {
			t.Errorf("load (v2=%v) of a v2 entry: %v", v2, err)
		}
	}
	if _, err := s.Load("yum/a.rpm", Stamp{Size: 70000, MtimeNs: 6}, 16<<10, false); !errors.Is(err, ErrStale) {
		t.Errorf("other mtime: err = %v, want ErrStale", err)
	}
	if got := s.Path("yum/a.rpm", 16384); got != filepath.Join(s.Dir, "yum", "a.rpm", "16384") {
		t.Errorf("Path = %s", got)
	}
}
