// Package cachefile writes cache files so that concurrent readers, in this
// process or another, see either the old content or the new one in full.
// It also frames the cache formats: a header and a checksum that readers
// check before they trust a byte (envelope.go), and it records each
// entry's last use (used.go).
//
// The design notes below describe how the caches hold up when many
// processes share them. They live here because this package is what every
// cache writer and reader goes through: the atomic write, the checksum,
// the temporary files and the last-use marks are implemented here, and the
// locks (package filelock) only make sense together with them. The
// caches' own formats are described in packages piececache and infocache.
//
// # Entries on disk
//
// An entry is one file under the cache folder: pieces/{path}/{piece
// length} or info/{key}. Beside it is its lock file, {entry}.lock, empty,
// which package filelock locks. A write in progress is a temporary file
// .tmp-{entry}-{random} in the same folder, which no reader opens.
//
// # Many processes, crashes and bad disks
//
// A mirror runs several service processes at once (mod_fcgid starts them
// on demand, CGI one per request), and a fleet of hosts asks for the same
// new set of packages within seconds. What holds:
//
//   - Each file is hashed once, however many ask. Building a torrent holds
//     an exclusive flock(2) on info/{key}.lock, and hashing a file one on
//     pieces/{path}/{piece length}.lock, around "check the cache, hash,
//     write the cache". A process that gets a lock first checks the cache
//     again: the process it waited for has just written the entry, so the
//     waiter reads it instead of hashing. Inside a process, requests for
//     the same torrent, or for torrents that share files, wait for the one
//     that is at it and share its result (package service). So a burst of
//     requests for one new digest builds it once, and two digests that
//     share files hash each shared file once.
//   - Waiting is bounded. A request waits for the others at most
//     lock-timeout in all, polling a held lock with a backoff of 1 to
//     25 ms, then gets 503 with Retry-After. The bound is on waiting, not
//     working: a request that is hashing is never cut short.
//   - A crash leaves nothing that is trusted. The kernel releases a dead
//     process's locks at once. Cache files are written to a temporary
//     file and renamed (WriteAtomic); a process killed half-way leaves a
//     temporary file that no reader opens, and the next process that
//     rebuilds a piece entry, holding its lock, removes it (RemoveTemps;
//     gc removes the others after an hour).
//     Every entry carries a CRC-32C (Seal, Unseal) and its files' size,
//     mtime and inode, so a torn or stale one is rebuilt, never used. A
//     machine crash can leave one, since writes are not synced.
//   - Bad disks. A missing cache folder is created. A read-only, full or
//     broken one (a file where a folder should be, a folder where a lock
//     file should be): torrents are computed without it, and without
//     locks when a lock file cannot be created, and the log says so once a
//     minute, not once a request. Corrupt entries are rebuilt.
//   - Files that change while they are hashed are hashed again, and
//     digests that mix two versions of a file are never cached or served
//     (package piececache).
//
// The lock files stay in place (see package filelock): removing one while
// a process holds it would let a second process lock a new file of the
// same name. Were that to happen, the cost is work done twice, not wrong
// data.
//
// # Last use
//
// An entry file's access time records when the entry was last used to
// serve a torrent; pkgtorrent-service gc removes entries unused for its
// -max-age. The modification time is left alone: for an info cache entry
// it means "files last checked" and drives revalidation (package
// infocache), so it cannot also mean "last used".
//
// The kernel's own atime updates cannot be relied on (noatime mounts never
// update it; relatime only once a day, and only on reads), so users set it
// explicitly with MarkUsed, at most once a MarkInterval per entry: one
// stat, and one utimensat a day. While an info entry's mark is under a day
// old, serving it costs nothing more; past that, the info entry and each
// of its piece entries whose own mark is older are marked. Reads by the
// kernel under relatime or strictatime can only make an entry look more
// recently used, never less. Readers that must not count as a use read
// with ReadQuietly (O_NOATIME): gc, and the service's reads of info
// entries, where a kernel update on the first of the two reads of a GET
// digest/ would otherwise hide an old mark. warm marks the entries it
// finds valid, so that gc keeps what the operator warms.
package cachefile
