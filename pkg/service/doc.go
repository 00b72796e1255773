// Package service is the HTTP handler of pkgtorrent-service: it answers
// /{top}/{service-name}/{digest,single,simple,magnet,nullfile}/... with torrents
// built from cached piece digests, whatever runs it (FastCGI, CGI or the
// standalone HTTP server).
//
// # Hostile clients and faults
//
// What a client (or the machine) does, what bounds it, and the command
// that repeats the test. Tests that start the real binary build it with
// -race, except the memory test, whose RSS the race detector's shadow
// memory would swell. Figures in brackets are from the same 2-core
// machine, before and after.
//
//	attack or fault                          bound                                          test
//	---------------------------------------  ---------------------------------------------  -----------------------------------------------------------------
//	1000 idle keep-alive connections and     max-connections (1024, at most half the        go test -race -run TestConnectionFloodsBinary ./cmd/pkgtorrent-service
//	1000 slow POST bodies (-http), with a    descriptor limit): at the bound the longest
//	descriptor limit of 1024                 idle connection, else the longest-reading
//	                                         one, is closed for the new one; working
//	                                         ones never. Ten legitimate requests get
//	                                         the right torrent; 497 descriptors at most
//	                                         (before: none answered, accept4 EMFILE)
//	a header, a body or an idle connection   header-timeout 10s, body-timeout 60s,          go test -race -run TestTimeoutsBinary ./cmd/pkgtorrent-service
//	that never ends; a client that stops     idle-timeout 60s, write-timeout 30s per
//	reading; a huge header (-http)           write of up to 64 KiB, max-header-bytes
//	                                         16KiB (431) (before: header timeout only,
//	                                         1 MiB headers)
//	a glob over thousands of folders,        docroot.Lookup holds at most 64 folders        go test -race -run TestManyFoldersGlobBinary ./cmd/pkgtorrent-service
//	six at once (every mode)                 open per request, 1024 in all (at most a       go test -race -run TestLookupBoundsOpenFolders ./pkg/docroot
//	                                         quarter of the descriptor limit); 1500
//	                                         folders x 6 requests under a limit of
//	                                         2048: all 200, about 550 descriptors
//	                                         (before: 500 "too many open files");
//	                                         10 000 folders x 6 under 20 000: all 200,
//	                                         545 descriptors (before: 6 x 500, 19 981)
//	a low soft descriptor limit              raised to the hard limit at start-up
//	50 clients, 20 cold 200 MiB files,       pieces stream through 1 MiB chunks; piece      go test -race -run TestLargePiecesMemoryBinary ./cmd/pkgtorrent-service
//	-format hybrid -piece-length 64MiB       buffers in flight bounded process-wide         go test -race -run 'TestBufferBudget|TestChunkedPieces' ./pkg/pieces
//	(any format, piece length, CPU)          (pieces.BufferBudget: 16 MiB, or 2 chunks
//	                                         per core); the AVX-512 lanes hold 16
//	                                         128 KiB chunks per core. Peak RSS 60 MiB
//	                                         (before: 2616 MiB)
//	POSTs of new 1998-of-2000 combinations   info-cache-size (1 GiB), enforced as entries   go test -race -run TestInfoCacheBound ./pkg/service
//	of hashed packages (590 KB entries)      are written: past it, the least recently       go test -race -run TestBoundEvictsLeastRecentlyUsed ./pkg/infocache
//	                                         used entries go, to 7/8 of it. 60 s of the
//	                                         flood: 923 MiB on disk (before: 1.4 GB and
//	                                         growing, 350 GB an hour at 165 POSTs/s);
//	                                         the other client answered 60 of 60
//	single/.../*[m<random letters>]: new     entries keyed by the matched files, the        go test -race -run TestGlobTextsShareOneEntry ./pkg/service
//	glob texts for the same 2000 files       glob kept in memory (4096 patterns) for
//	                                         revalidate. 60 s: 636 KB on disk
//	                                         (before: 306 MB, one entry per text)
//
// Entries of the info cache keep the whole info, not only the path list:
// rebuilding a 1999-file info from the piece cache costs 5 to 11 times
// loading its entry (62 ms with the digests in memory, 137 ms in a new
// process, against 12.7 ms to load the 640 KB entry, all on the same
// loaded machine), and would need every file's piece entry still there.
// The size bound, not a smaller entry, is what bounds the disk.
//
// The timeouts and the connection bound are the standalone server's
// (cmd/pkgtorrent-service, conns.go); under FastCGI the web server in
// front bounds and times its clients.
package service
