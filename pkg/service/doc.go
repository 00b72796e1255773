// Package service is the HTTP handler of pkgtorrent-service: it answers
// /{top}/{service-name}/{digest,single,simple,magnet,nullfile}/... with torrents
// built from cached piece digests, whatever runs it (FastCGI, CGI or the
// standalone HTTP server).
//
// The endpoints, their answers and statuses, and the torrent layouts are
// specified in the manual page pkgtorrent-service(8) (deploy/man); these
// notes say how the handler meets them.
//
// # Answering a request
//
// ServeHTTP parses the route (ParseRoute) and hands the request to its
// mode. A torrent is named by its request text: the posted paths, or in
// single mode the matched files, not the pattern's text (singleEntry; see
// package infocache). entry looks the text up, first in memory, then in
// the info cache; an entry whose last check is older than the revalidate
// setting has its files' stamps checked again. On a miss, build resolves
// the files under the document root (package docroot: each folder opened
// once per request with Lookup, every path confined), gets each file's
// piece digests (digests: the digest memo, then the piece cache, then
// hashing with package pieces, many files at once), lays out and encodes
// the info (package torrent) and saves the entry, keeping the info cache
// within the info-cache-size setting, least recently used first
// (infocache.Bound). writeTorrent then adds what is outside the info: the
// trackers, this request's web seed and the other mirrors', the DHT nodes.
//
// # Sharing work
//
// Inside a process, a flight group runs one build per request key and one
// hashing per file at a time: requests that arrive meanwhile wait and
// share the result. Across processes, file locks do the same (lock; package
// filelock): a lock file beside an info entry, and a piece entry's own
// folder. A request finds and stats its files before it takes any lock,
// so one that ends in 400 or 404 leaves nothing on disk. Waiting, for either, is bounded by
// the lock-timeout setting, then the request gets 503 with Retry-After.
// The design of the caches under many processes, crashes and bad disks is
// described in package cachefile.
//
// # In memory
//
// Bounded caches in the process spare the disk; the files stay the
// truth, and each is used only while the file it came from is unchanged.
// This in-memory layer lives in the memcache_*.go files of this package,
// apart from the handler's files, which are about answering requests. It
// stays in package service rather than a package of its own because its
// entries hold the service's own types (answer, infoHashes, the flight
// results), which a separate package would have to export.
//
//   - entryCache (memcache_entries.go) holds, as memEntry values, the info
//     cache entries this process loaded and the .torrent bodies made from
//     them (64 MiB in all). A repeated request costs one stat of the
//     entry's file; the same stat gives the entry's last use, so use marks
//     are still written at most once a day.
//   - digestMemo (memcache_digests.go) holds each file's digests as last
//     read or computed, for the file version (size, mtime, inode) they
//     came from (32 MiB). A new combination of known files then costs one
//     stat per file.
//   - markMemo (memcache_digests.go) remembers the piece entries this
//     process marked used or wrote less than a day ago, so they are not
//     stat'ed again to be marked (markUsed).
//   - globAliases (memcache_globs.go) remembers which entry a single-mode
//     glob led to (4096 patterns) for revalidate, so a repeated glob is not
//     expanded again before its entry would be checked; negativeCache,
//     beside it, remembers the expensive globs that failed (4096, 10 s).
//   - flight and walkSlots (memcache_flight.go) hold no answers but the
//     work under way: one build or hashing per key at a time, its result
//     shared with whoever waits, and a bound on the "**" globs walking at
//     once.
//
// A CGI process starts empty and gains nothing from them; under FastCGI a
// process serves many requests.
//
// # HTTP caching
//
// A torrent's max-age is the time left until the service would check its
// files again, so a cache in front (the shipped nginx configuration's
// fastcgi_cache) never keeps an answer longer than the service itself
// would without looking at the files. The ETag is a hash of the exact
// body, so anything that changes the bytes (the info, trackers, web seeds,
// DHT nodes) changes it; when the cache asks again with If-None-Match,
// the service answers 304 while nothing changed.
//
// # Errors
//
// A client sees one error type, Error: a status and a one-line message.
// toClient is the one place where errors of other packages (docroot's
// outside, not found and invalid, piececache's changed file, torrent's
// mixed folders, a waiting timeout) become statuses; any other error is
// logged and answered 500 with a generic body. ServeHTTP recovers panics,
// since under FastCGI and CGI nothing else would.
//
// # Hostile clients and faults
//
// Paths are confined to the document root (package docroot, os.Root): no
// "..", encoded or not, no backslash and no symlink leads outside. Only
// regular files go into torrents; folders, fifos, devices and sockets are
// never opened by the service (it checks before it opens, and opens
// without blocking). The standalone server's file handler serves regular
// files and folders only, with the same confinement. A POST body is read
// up to MaxBodySize, and form fields are parsed without net/http's
// ParseForm (formValues), up to the max-files setting.
//
// The tests attack it from outside and break what is under it:
//
//   - path attacks through the handler and as raw request lines to the
//     binary; the bounds (body size, max-files, max-walk, path and segment
//     lengths), each with its status and one-line body;
//   - 4 processes sharing a cache under 4 × 50 concurrent requests for the
//     same new 200-file digest: each file hashed exactly once, every
//     answer identical;
//   - processes killed with SIGKILL while hashing and while writing cache
//     files (the failpoint build tag stops them at named points, package
//     failpoint); full and read-only caches on a tmpfs; files that change
//     while they are hashed; broken trackers files. These tests mount
//     tmpfs and create device nodes, so they need root, as make test has;
//   - fuzz targets for request path resolution and form parsing through
//     the handler (FuzzServeSingle, FuzzPostDigest, corpora under
//     testdata/fuzz), besides those of packages docroot, piececache,
//     infocache and trackers.
//
// Each attack or fault found since has an entry below: what a client does
// (or what happens to the files and disks), what bounds it, with figures
// measured before and after on the same machine, and the command that
// repeats its test.
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
// ones were served again; now none. With a 1 GiB file rewritten by dd and
// touch -r while it was hashed, the next request's torrent failed
// pkgtorrent-service inspect -verify 25 times of 25 before, 0 now.
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
// 1 007. Its time, median of 3 on a machine loaded 5 to 9 on 2 cores (so
// the ranges are wide): on a quiet file system 1.88 s (1.65-2.44) before,
// 1.36 s (1.30-1.76) now; right after 200 000 other files were deleted
// 2.38 s (1.44-2.69) before, 1.11 s (0.79-1.85) now; mktorrent -t 2 took
// 0.27-0.72 s meanwhile.
//
//	go test -race -run '^TestPieceEntryInodes$' ./pkg/service
//
// The bounds of the standalone server (-http) on its clients are in
// cmd/pkgtorrent-service (conns.go); under FastCGI the web server in front
// bounds and times its clients. Tests that start the real binary build it
// with -race, except the memory test, whose RSS the race detector's shadow
// memory would swell.
//
// Connection floods. 1000 idle keep-alive connections and 1000 slow POST
// bodies, with a descriptor limit of 1024: before, no request was
// answered (accept4: EMFILE). Bound: max-connections (1024, at most half
// the descriptor limit): at the bound the longest idle connection, else
// the one that has been reading its request the longest, is closed for
// the new one; working ones never. Now ten legitimate requests get the
// right torrent, with 497 descriptors at most.
//
//	go test -race -run TestConnectionFloodsBinary ./cmd/pkgtorrent-service
//
// Clients that never end. A header, a body or an idle connection that
// never ends; a client that stops reading; a huge header. Before: a
// header timeout only, and 1 MiB headers. Bound: header-timeout 10s,
// body-timeout 60s, idle-timeout 60s, write-timeout 30s per write of up to
// 64 KiB, max-header-bytes 16KiB (431).
//
//	go test -race -run TestTimeoutsBinary ./cmd/pkgtorrent-service
//
// A glob over thousands of folders, six at once (every mode). Before,
// 1500 folders x 6 requests under a descriptor limit of 2048 got 500 "too
// many open files", and 10 000 folders x 6 under 20 000 held 19 981
// descriptors. Bound: docroot.Lookup holds at most 64 folders open per
// request, 1024 in all (at most a quarter of the descriptor limit), and
// the soft descriptor limit is raised to the hard limit at start-up. Now
// all 200, with about 550 and 545 descriptors.
//
//	go test -race -run TestManyFoldersGlobBinary ./cmd/pkgtorrent-service
//	go test -race -run TestLookupBoundsOpenFolders ./pkg/docroot
//
// Large pieces. 50 clients, 20 cold 200 MiB files, -format hybrid
// -piece-length 64MiB: peak RSS 2616 MiB before. Bound: pieces stream
// through 1 MiB chunks, and piece buffers in flight are bounded
// process-wide (pieces.BufferBudget: 16 MiB, or 2 chunks per core; the
// AVX-512 lanes hold 16 128 KiB chunks per core), in any format, piece
// length and CPU. Now 60 MiB.
//
//	go test -race -run TestLargePiecesMemoryBinary ./cmd/pkgtorrent-service
//	go test -race -run 'TestBufferBudget|TestChunkedPieces' ./pkg/pieces
//
// New combinations of hashed packages. POSTs of new 1998-of-2000
// combinations (590 KB entries): before, 1.4 GB on disk after 60 s and
// growing, 350 GB an hour at 165 POSTs/s. Bound: info-cache-size (1 GiB),
// enforced as entries are written: past it, the least recently used
// entries go, to 7/8 of it. Now 923 MiB on disk after 60 s of the flood,
// and another client answered 60 of 60. Entries keep the whole info, not
// only the path list: rebuilding a 1999-file info from the piece cache
// costs 5 to 11 times loading its entry (62 ms with the digests in memory,
// 137 ms in a new process, against 12.7 ms to load the 640 KB entry, all
// on the same loaded machine), and would need every file's piece entry
// still there. The size bound, not a smaller entry, bounds the disk.
//
//	go test -race -run TestInfoCacheBound ./pkg/service
//	go test -race -run TestBoundEvictsLeastRecentlyUsed ./pkg/infocache
//
// New glob texts for the same files. single/.../*[m<random letters>]
// over the same 2000 files: before, one entry per text, 306 MB on disk
// after 60 s. Bound: entries are keyed by the matched files, and the glob
// is kept in memory (globAliases, 4096 patterns) for revalidate. Now
// 636 KB.
//
//	go test -race -run TestGlobTextsShareOneEntry ./pkg/service
package service
