// Package service is the HTTP handler of pkgtorrent-service: it answers
// /{top}/{service-name}/{digest,single,simple,magnet,nullfile}/... with torrents
// built from cached piece digests, whatever runs it (FastCGI, CGI or the
// standalone HTTP server).
//
// # Hostile clients and faults
//
// One entry per attack or fault: what a client does (or what happens to
// the files and disks), what bounds it, with figures measured before and
// after on the same machine, and the command that repeats its test.
//
// Lock files for nothing. A client asks for names that do not exist
// (single/.../nope-{random}: 404), thousands a second, or for files that
// cannot make one torrent (400). Bound: the request's files are found and
// stat'ed before any lock file or cache entry is made for it (resolve), so
// a request that ends in 400 or 404 leaves nothing on disk. Before, each
// left an empty info/{key}.lock: 146 408 files after 20 s of 8 clients;
// now none.
//
//	go test -race -run '^TestFailedRequestsLeaveNoFiles$' ./pkg/service
//
// An info entry checked "in the future". The clock is stepped back (or an
// entry with a check time 2 h ahead comes from elsewhere), then a file
// changes. Bound: a check time in the future counts as expired (fresh), so
// the next request checks the files. Before, the stale torrent was served
// without a check for as long as the offset lasted (2 h here, with
// max-age=60); now the first request after the change gets the new one.
//
//	go test -race -run '^TestFutureCheckTimeExpires$' ./pkg/service
//
// A file rewritten in place with its mtime kept (rsync --inplace -t,
// touch -r, or a file system whose timestamps are 1 or 2 s coarse), while
// it is hashed or between requests. Bound: a file's stamp includes its
// ctime, which utime cannot set back, so the change is seen and the file
// hashed again; a file written within its timestamp granularity of now is
// hashed once that has passed, and digests of a file that is still racy
// then are served but not cached (piececache.Stamp.Racy, git's rule). Before,
// 23 of 25 torrents held pieces that did not match the file, and the stale
// ones were served again; now none.
//
//	go test -race -run '^TestInPlaceRewriteNeverMixesPieces$' ./pkg/service
//	go test -race -run '^TestRacyFileOnCoarseTimestamps$' ./pkg/service
//
// A huge trackers file. 100 000 lines, all good URLs: everything in its
// first MiB went into every torrent. Bound: the setting max-trackers
// (default 100; the others dropped with a warning), and URLs that are not
// printable ASCII or carry a user name or password are skipped. Before,
// the torrent of one file carried 30 276 trackers in 1 169 903 bytes; now
// 100 in 3 836.
//
//	go test -race -run '^TestTrackersFileBounded$' ./pkg/service
//	go test -race -run '^TestListCapped$' ./pkg/trackers
//
// Range headers on nullfile/ and the standalone server's files. "bytes=-0"
// got 206 with Content-Range "bytes 1048576-1048575/1048576" (the standard
// library's answer), and 60 000 one-byte ranges in a 729 KB request a
// multipart answer of 9 169 342 bytes for a 1 MiB padding file. Bound:
// BoundRange drops zero-byte suffix ranges (416 when none is left) and a
// header of more than MaxRanges (16) ranges, so the answer is at most the
// content and its part headers; now 416, and 1 048 576 bytes (200).
//
//	go test -race -run '^TestRangeBounded$' ./pkg/service
//
// Names that clients cannot use. A file whose name has a newline, a
// carriage return, a tab or bytes that are not UTF-8 went into torrents
// (aria2 then refuses the whole multi-file torrent), and the POST of a
// newline path got 200 while a GET of its digest got 400. Bound: a path
// with such a name is 400 when named (single/ or POST) and the GET of its
// digest 412; globs leave such files and folders out, with one log line
// per request (docroot.UsableName).
//
//	go test -race -run '^TestUnusableNames$' ./pkg/service
//
// Globs that match nothing over a large tree. 8 clients repeat
// single/big/**/nope.rpm over 310 000 entries: each walk cost about 180 ms
// of CPU, and nothing was remembered (72 answers in 20 s, both cores
// busy). Bound: a glob gives up after max-walk-time (default 5 s, 503), and
// a failure after more than 10 000 entries is remembered for 10 s
// (negativeCache): now 137 123 answers in 20 s, about 0.1 ms of CPU each,
// and a file that appears is found 10 s later at most. Globs with new
// text each time (single/big/**/nope-{random}.rpm) cost a walk each:
// those with "**" run at most half the cores at once (walkSlots; a glob
// waits lock-timeout for a slot, then 503), so the other requests keep a
// core. A client asking for a small torrent every 100 ms meanwhile got
// answers in 50 ms (median) and 498 ms (worst) before, 1 ms and 155 ms
// now, on a machine loaded 10 on 2 cores.
//
//	go test -race -run '^TestExpensiveGlobsBounded$' ./pkg/service
//
// A full cache disk. Piece digests computed while the cache could not be
// written stayed in memory only, so a restart hashed them again (225 MB
// here). Bound: the memo marks them unsaved, and the next request that
// uses them writes them (saveLater, at most every 10 s per file); now a
// restart hashes 0 bytes.
//
//	go test -race -run '^TestDigestsWrittenOnceSpaceIsBack$' ./pkg/service
//
// Inodes per hashed file. Each piece cache entry cost three new inodes
// (its folder, its lock file, the entry), and ext4 allocates new inodes
// slowly right after others were freed. Bound: hashing a file locks its
// entry's folder (filelock.AcquireDir), so an entry costs two. A cold
// digest of 500 packages (151 MB) added 1 507 inodes to the cache; now
// 1 007. Its time (quiet, then right after 200 000 files were deleted)
// went from 1.0-1.3 s and 2.1-2.7 s to figures within the noise of a
// machine loaded 8 to 16 on 2 cores (mktorrent -t 2: 0.3-1.0 s there).
//
//	go test -race -run '^TestPieceEntryInodes$' ./pkg/service
package service
