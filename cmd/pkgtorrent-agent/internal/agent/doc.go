// Package agent is pkgtorrent-agent's daemon: the HTTP endpoint dnf
// reaches as the first URL of a repo's baseurl, and the BitTorrent swarm
// behind it.
//
// # Requests
//
// GET /m/{scheme}/{host[:port]}/{path} gives the bytes of
// {scheme}://{host[:port]}/{path}, for mirrors of the allow-list only
// (Mirrors: the settings' allow, and the baseurl lines of the repo
// files). A package (a base name matching the packages patterns) comes
// through its per-file torrent, the mirror's
// /{top}/{service-name}/single/{path}; anything else, and a package whose
// torrent the mirror does not give, is passed through unchanged
// (httputil.ReverseProxy, ranges and conditional requests included).
// Per-file torrents have no padding, and they are shared by every host
// whose transaction holds the file, whatever else it holds.
//
// # Verified bytes only
//
// Requests read a package through the engine's reader, which returns
// bytes of pieces that passed their SHA-1 check only. Which pieces
// verified is kept in memory (completion), never inferred from the
// files on disk: after a restart every stored file is hashed again
// before anything of it is served or uploaded. A prefetched file read
// whole is also checked against the repo metadata's SHA-256.
//
// # The mirror as web seed
//
// The engine's own web seed client is off: it waits up to 5 s before its
// first request, and fetches pieces that peers are about to send. fill
// fetches from the mirror itself, with a policy that gives each piece one
// host of the fleet's hosts that start together (rendezvous hashing, see
// fill), so that the mirror sends about one copy however many hosts
// there are. A request whose torrent makes no progress for stall streams
// the rest straight from the mirror (the torrent goes on in the swarm),
// and a download the store cannot hold (a full disk) does the same.
//
// BenchmarkFleet (in package main's tests, `make bench`) measures the
// policy with 8 hosts behind a mirror link of 100 Mbit/s; its figures
// are in cmd/pkgtorrent-bench/README.md.
//
// # The engine, and what it needed here
//
// github.com/anacrolix/torrent v1.59.1, with four changes of
// configuration, each found by a test or the fleet benchmark: room for
// every request a peer may queue (with the default, uploads stopped after
// 2 MiB), no fsync per verified piece, pread/pwrite storage instead of
// mapped files (a write to a mapped file on a full disk killed the
// process with SIGBUS; see ExecWithFileIO), and 500 peer dials a second
// instead of 10 (a transaction's torrents took a minute to connect).
//
// # Seeding and the store
//
// A finished torrent is seeded for a time between seed-min and seed-max
// spread by host as yum-torrent did, then dropped from the swarm; its
// file stays in the store until the store holds more than store-size,
// when the least recently used finished files are evicted. A torrent
// being downloaded or read is never dropped or evicted.
package agent
