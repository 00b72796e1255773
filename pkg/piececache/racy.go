package piececache

import (
	"os"
	"time"
)

// Timestamp granularities (see Stamp.Granularity).
const (
	// CoarseGranularity is that of file systems that keep whole seconds:
	// FAT keeps 2 s, ext4 with 128-byte inodes and some NFS servers 1 s.
	CoarseGranularity = 2 * time.Second
	// FineGranularity is that of file systems that keep nanoseconds: the
	// kernel stamps files from a clock that moves once a tick, every 1 to
	// 10 ms (CONFIG_HZ), and twice that is kept as a margin.
	FineGranularity = 20 * time.Millisecond
)

// Granularity returns the timestamp granularity to assume for the file
// version st: a ctime with no nanoseconds comes from a file system that
// keeps whole seconds (the ctime is the kernel's, so the odds that a
// nanosecond one is a whole second are nil).
func (st Stamp) Granularity() time.Duration {
	if st.CtimeNs%int64(time.Second) == 0 {
		return CoarseGranularity
	}
	return FineGranularity
}

// Racy reports whether a write made at t could leave the file's stamp as
// st: its mtime or ctime is within the timestamp granularity of t, so the
// write could get the same timestamps. Digests of a file version read
// from a moment at which it was racy are not cached: the rule git uses for
// its index ("racy git").
func (st Stamp) Racy(t time.Time) bool {
	g := int64(st.Granularity())
	near := func(ns int64) bool {
		d := t.UnixNano() - ns
		return -g < d && d < g
	}
	return near(st.MtimeNs) || near(st.CtimeNs)
}

// settleRounds bounds how many times settle waits for a file that keeps
// being written.
const settleRounds = 3

// settle waits until the open file f, whose stamp was st, is no longer
// racy, and returns its stamp then: a file written a moment ago is hashed
// once any later write would show in its timestamps. It waits at most
// settleRounds times twice the granularity, then returns the last stamp,
// racy or not (HashFile then reports it as such).
func settle(f *os.File, st Stamp) (Stamp, error) {
	for range settleRounds {
		now := time.Now()
		if !st.Racy(now) {
			break
		}
		g := st.Granularity()
		until := time.Unix(0, max(st.MtimeNs, st.CtimeNs)).Add(g)
		if wait := until.Sub(now); wait > 0 {
			time.Sleep(min(wait, 2*g))
		} else {
			time.Sleep(g) // an mtime just ahead of the ctime: wait it out
		}
		fi, err := f.Stat()
		if err != nil {
			return st, err
		}
		st = StampOf(fi)
	}
	return st, nil
}
