// Package piececache stores the piece digests of source files, one cache
// file per source file and piece length, so that a file is hashed once and
// its digests reused in every torrent that holds it.
//
// A cache file is trusted only while it decodes cleanly (magic, version,
// lengths and checksum all agree) and its Stamp equals the source file's
// current one; anything else is a miss, and the caller hashes again.
//
// # Format
//
// An entry is pieces/{path}/{piece length} under the cache folder, {path}
// the source file's path relative to the document root. It is written
// atomically and framed by package cachefile's envelope. Layout of
// version 3, all integers big-endian:
//
//	magic       4  "PTPC"
//	version     2  3
//	flags       2  bit 0: the v2 piece layer and pieces root follow the digests
//	piece len   8
//	size        8  source file size
//	mtime       8  source file mtime, nanoseconds since the epoch
//	ctime       8  source file ctime, nanoseconds since the epoch
//	dev         8
//	ino         8
//	tail       20  SHA-1 of the bare tail (zeros when none)
//	count       4  number of piece digests
//	digests    20 × count (last one padded with zeros to a full piece)
//	root       32  v2 pieces root          (flag 0 only)
//	layer      32 × count v2 piece layer   (flag 0 only)
//	crc32c      4  of every byte before it
//
// Both digests of the last piece are kept: padded with zeros (for every
// file of a multi-file torrent but the last) and bare (for the last file,
// and single-file torrents), so any combination is served from one entry.
// The v2 layer is computed in the same read of the file, when a hybrid
// torrent asks for it. An entry of version 1 (v1 digests only, no flags)
// or 2 (no ctime), or one without the v2 layer when a hybrid torrent needs
// it, is a miss, and the file is hashed again.
//
// The entries of a file live in a folder of their own, pieces/{path}/.
// The lock held around "check, hash, write" is one byte of pieces.lock,
// beside the folder, chosen by a hash of the path (Store.Lock): it costs
// no inode, and the entry's folder is made only when the entry is
// written. Locking the folder instead made it on the way in; a lock file
// per entry cost a third inode per file hashed.
//
// A file whose stamp (size, mtime, ctime, device, inode) changes while it
// is hashed is hashed again once; if it changes again, HashFile returns
// ErrChanged, and the service answers 503. Digests that mix two versions
// of a file are never stored. A file replaced by a rename while it is
// hashed is hashed whole in its old version, and the new inode makes the
// next check rebuild.
//
// # Racy files
//
// The ctime is in the stamp because the mtime can be set back (rsync
// --inplace -t, touch -r): a file rewritten in place with its mtime
// restored keeps every other field. A write within the timestamps'
// granularity of the stamp (2 s on FAT, 1 s on some NFS servers and on
// ext4 with 128-byte inodes, a kernel tick elsewhere) can still leave the
// stamp as it was. So HashFile first waits until the file's mtime and
// ctime are more than that granularity in the past (Stamp.Racy), and
// reports digests of a version still racy then, which callers do not
// cache: the rule git uses for its index.
package piececache
