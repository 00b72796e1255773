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
// the info (package torrent; marked private with the private setting) and
// saves the entry, keeping the info cache
// within the info-cache-size setting, least recently used first
// (infocache.Bound). writeTorrent then adds what is outside the info: the
// trackers, this request's web seed and the other mirrors', the DHT nodes.
// The lookup and revalidation are in lookup.go, resolving the files and
// building in build.go, each file's digests in digests.go.
//
// # Sharing work
//
// Inside a process, a flight group runs one build per request key and one
// hashing per file at a time: requests that arrive meanwhile wait and
// share the result. Across processes, file locks do the same (lock; package
// filelock): a lock file beside an info entry, and a piece entry's own
// folder. A request finds and stats its files before it takes any lock,
// so one that ends in 400 or 404 leaves nothing on disk. Waiting, for
// either, is bounded by the lock-timeout setting, then the request gets
// 503 with Retry-After.
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
// Each bound below says what a client does (or what happens to the files
// and disks), what bounds it, and the test that checks it (go test -race
// -run NAME in the package named, ./pkg/service when none is).
//
//   - Failed requests leave nothing on disk. A request's files are found
//     and stat'ed before any lock file or cache entry is made for it
//     (resolve), so requests for names that do not exist (404) or for
//     files that cannot make one torrent (400), however many, write
//     nothing. TestFailedRequestsLeaveNoFiles.
//   - A check time in the future is expired (fresh). After the clock is
//     stepped back, or with an entry copied from another host, the next
//     request checks the files. TestFutureCheckTimeExpires.
//   - A torrent never mixes two versions of a file. A file's stamp
//     includes its ctime, which utime cannot set back, so a file rewritten
//     in place with its mtime kept (rsync --inplace -t, touch -r) is seen
//     as changed and hashed again. A file written within its timestamp
//     granularity of now is hashed once that has passed, and the digests
//     of a file still racy then are served but not cached
//     (piececache.Stamp.Racy, git's rule). TestInPlaceRewriteNeverMixesPieces,
//     TestRacyFileOnCoarseTimestamps.
//   - A torrent carries at most max-trackers trackers (default 100) from
//     the trackers file, the others dropped with a warning; URLs that are
//     not printable ASCII or carry a user name or password are skipped.
//     TestTrackersFileBounded; TestListCapped in ./pkg/trackers.
//   - A Range answer is at most the content and its part headers.
//     BoundRange (nullfile/ and the standalone server's files) drops
//     zero-byte suffix ranges, answering 416 when none is left, and
//     ignores a header of more than MaxRanges ranges. TestRangeBounded.
//   - Names that BitTorrent clients cannot use (a newline, a carriage
//     return, a tab, bytes that are not UTF-8) never go into a torrent: a
//     path with one is 400 when named (single/ or POST) and the GET of its
//     digest 412; globs leave such files and folders out, with one log
//     line per request (docroot.UsableName). TestUnusableNames.
//   - A glob gives up after max-walk-time (503). One that fails after more
//     than expensiveWalk entries is remembered for negativeTTL
//     (negativeCache), so repeating it costs a map lookup, and a file that
//     appears meanwhile is found negativeTTL later at most. Globs with
//     "**" walk on at most half the cores at once (walkSlots; a glob waits
//     lock-timeout for a slot, then 503), so other requests keep a core.
//     TestExpensiveGlobsBounded.
//   - Digests computed while the cache could not be written (a full disk)
//     are written by the next request that uses them once it can be
//     (saveLater, at most every saveRetry per file), so a restart does not
//     hash those files again. TestDigestsWrittenOnceSpaceIsBack.
//   - A piece cache entry costs two inodes, its folder and the entry:
//     hashing a file locks a byte of one lock file (piececache.Store.Lock),
//     and the folder is made only when the entry is written.
//     TestPieceEntryInodes.
//   - The piece cache entries a request computes are written after its
//     answer (writeBehind), their locks held until then, one lock
//     descriptor a request; a request that must wait for a lock first
//     writes what it holds, so two requests never wait for each other.
//     Wait waits for the writes; the servers call it before they exit.
//     TestAnswerBeforeEntries, TestWriteBehindNoDeadlock.
//   - The info cache stays within info-cache-size, enforced as entries
//     are written: past it, the least recently used entries go, to 7/8 of
//     it. Entries keep the whole info rather than only the path list:
//     rebuilding an info from the piece cache costs several times loading
//     its entry and needs every file's piece entry still there, so the
//     size bound, not a smaller entry, bounds the disk. TestInfoCacheBound;
//     TestBoundEvictsLeastRecentlyUsed in ./pkg/infocache.
//   - Glob texts do not make entries: entries are keyed by the matched
//     files, and the glob is kept in memory (globAliases) for revalidate,
//     so a client inventing patterns over the same files adds nothing on
//     disk. TestGlobTextsShareOneEntry.
//   - Piece buffers in flight are bounded process-wide, in any format,
//     piece length and CPU (pieces.BufferBudget): pieces stream through
//     1 MiB chunks. TestLargePiecesMemoryBinary in ./cmd/pkgtorrent-service;
//     TestBufferBudget and TestChunkedPieces in ./pkg/pieces.
//   - A request holds at most 64 folders open, and all requests 1024, at
//     most a quarter of the descriptor limit (docroot.Lookup), so a glob
//     over thousands of folders cannot run the process out of
//     descriptors. TestManyFoldersGlobBinary in ./cmd/pkgtorrent-service;
//     TestLookupBoundsOpenFolders in ./pkg/docroot.
//
// Under FastCGI the web server in front bounds and times its clients. The
// standalone server (-http) bounds them itself (cmd/pkgtorrent-service,
// conns.go): max-connections, at most half the descriptor limit, closing
// at the bound the longest idle connection, else the one that has been
// reading its request the longest, never a working one
// (TestConnectionFloodsBinary); and header-timeout, body-timeout,
// idle-timeout, write-timeout per write of up to 64 KiB, and
// max-header-bytes (431) (TestTimeoutsBinary). At start-up the soft
// descriptor limit is raised to the hard limit.
//
// The tests attack the handler from outside and break what is under it:
// path attacks through the handler and as raw request lines to the binary;
// every bound above, each with its status and one-line body; 4 processes
// sharing a cache under 4 × 50 concurrent requests for the same new
// 200-file digest (each file hashed exactly once, every answer identical);
// processes killed with SIGKILL while hashing and while writing cache
// files (the failpoint build tag stops them at named points, package
// failpoint); full and read-only caches on a tmpfs; files that change
// while they are hashed; broken trackers files. These tests mount tmpfs
// and create device nodes, so they need root, as make test has. Fuzz
// targets cover request path resolution and form parsing through the
// handler (FuzzServeSingle, FuzzPostDigest, corpora under testdata/fuzz),
// besides those of packages docroot, piececache, infocache and trackers.
package service
