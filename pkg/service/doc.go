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
// mode. A torrent is named by its request text: the posted paths, or the
// single-mode pattern (see package infocache). entry looks the text up,
// first in memory, then in the info cache; an entry whose last check is
// older than the revalidate setting has its files' stamps checked again.
// On a miss, build resolves the files under the document root (package
// docroot: each folder opened once per request with Lookup, every path
// confined), gets each file's piece digests (digests: the digest memo,
// then the piece cache, then hashing with package pieces, many files at
// once), lays out and encodes the info (package torrent) and saves the
// entry. writeTorrent then adds what is outside the info: the trackers,
// this request's web seed and the other mirrors', the DHT nodes.
//
// # Sharing work
//
// Inside a process, a flight group runs one build per request key and one
// hashing per file at a time: requests that arrive meanwhile wait and
// share the result. Across processes, file locks beside the cache entries
// do the same (lock; package filelock). Waiting, for either, is bounded by
// the lock-timeout setting, then the request gets 503 with Retry-After.
// The design of the caches under many processes, crashes and bad disks is
// described in package cachefile.
//
// # In memory
//
// Three bounded caches in the process spare the disk; the files stay the
// truth, and each is used only while the file it came from is unchanged.
//
//   - warmCache holds the info cache entries this process loaded and the
//     .torrent bodies made from them (64 MiB in all). A repeated request
//     costs one stat of the entry's file; the same stat gives the entry's
//     last use, so use marks are still written at most once a day.
//   - digestMemo holds each file's digests as last read or computed, for
//     the file version (size, mtime, inode) they came from (32 MiB). A new
//     combination of known files then costs one stat per file.
//   - markMemo remembers the piece entries this process marked used or
//     wrote less than a day ago, so they are not stat'ed again to be
//     marked (markUsed).
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
package service
