// Package agent is pkgtorrent-agent's daemon: the HTTP endpoint dnf
// reaches as the first URL of a repo's baseurl, and the BitTorrent swarm
// behind it.
//
// # Parts
//
//   - The HTTP API (handler.go, passthrough.go): GET and HEAD
//     /m/{scheme}/{host[:port]}/{path}, POST /prefetch, GET /status, GET
//     /metrics; the allow-list of mirrors (mirrors.go, reading the repo
//     files through package repos).
//   - The engine and its store (swarm.go, store.go): the client of
//     package engine over data/{infohash}/{name} and
//     torrents/{infohash}.torrent under the store.
//   - A torrent's life (item.go): from the request that adds it to the
//     client, through its download, to seeding and eviction (seeding.go).
//   - The origin fill (fill.go, rank.go): pieces the swarm does not
//     bring, from the mirror.
//   - The verified reader (reader.go): a request's bytes, from the
//     torrent or, when it stalls, from the mirror.
//   - Prefetch (prefetch.go) and the figures (stats.go).
//   - The daemon's start (serve.go): the sockets systemd passes, or the
//     listen address; and the re-hash of a stored file after a restart
//     (rehash.go), with package pieces.
//
// # Guarantees
//
// Only mirrors of the allow-list are fetched from (the settings' allow,
// and the baseurl lines of the repo files); anything else gets 403. A
// torrent is announced only to the trackers of the tracker setting, or to its
// own on its mirror's host name; peers come from those trackers only (no
// PEX, no DHT), so neither a torrent nor a peer can make the agent
// connect to a host of its choosing.
//
// A package (a base name matching the packages patterns) comes through
// its per-file torrent, the mirror's /{top}/{service-name}/single/{path};
// anything else, and a package whose torrent the mirror does not give,
// is passed through unchanged, ranges and conditional requests included.
//
// A request reads bytes of pieces that passed their SHA-1 check only.
// Which pieces verified is kept in memory, never inferred from the files
// on disk: after a restart every stored file is hashed again, along the
// hashing path the service itself measured fastest on this machine
// (package pieces), before anything of it is served or uploaded. A prefetched file read whole is
// also checked against the repo metadata's SHA-256; on a mismatch its
// last bytes are withheld.
//
// A request is never much slower than the mirror: when its torrent makes
// no progress for stall, or when the store cannot hold the download (a
// full disk), it streams the rest straight from the mirror, and the
// torrent goes on in the swarm.
//
// Among hosts that start a torrent together, each piece the swarm lacks
// is fetched from the mirror by about one host (see fill).
//
// # Hostile peers, mirrors and local users
//
// Each bound says what an attacker does, what bounds it, and the test that
// checks it (go test -race -run NAME in this package, or in
// cmd/pkgtorrent-agent for the ones marked so).
//
//   - A local user binds the agent's port while the agent is down and
//     answers dnf: under systemd the port is pkgtorrent-agent.socket's,
//     held while the agent is down, and the agent serves on the sockets
//     passed (Serve). TestSocketActivation (cmd/pkgtorrent-agent).
//   - A peer's PEX message names an address for the agent to dial: PEX
//     (and the hole-punching that rides on it) is off; peers come from
//     the trackers only. TestNoPEX.
//   - A torrent's announce list names a host for the agent to contact:
//     only the tracker setting's trackers, or the torrent's own on its
//     mirror's host name, are announced to (announceList).
//     TestTrackersOnMirrorHostOnly.
//   - A peer from outside the fleet's networks connects, or is named:
//     with peer-network set, the engine refuses it and never dials it;
//     encryption = require refuses plain handshakes. TestPeerNetworks.
//   - A torrent says more than the file asked for (a name.utf-8 the
//     engine would store it under, a size past max-file-size, more pieces
//     than max-pieces): it is refused before anything is stored, and the
//     request passes through; a torrent that could not be added leaves
//     nothing in the store. TestHostileTorrents.
//   - A web page or a DNS-rebinding page posts a prefetch: /prefetch takes
//     application/json with a loopback Host only; all prefetches share one
//     window of prefetchWindow torrents and at most maxPrefetchQueued
//     waiting packages; the whole request must arrive within 30 s.
//     TestPrefetchOnlyLocal, TestPrefetchWindow.
//   - The agent's port answers the dnf plugin by dripping or with a huge
//     answer: the plugin's timeout bounds its whole call and it reads at
//     most 1 MiB. TestFleetPluginBounded (cmd/pkgtorrent-agent).
//
// # Seeding and eviction
//
// A finished torrent is seeded for a time between seed-min and seed-max,
// spread by host, then dropped from the swarm; its file stays in the
// store until the store holds more than store-size, when the least
// recently used finished files are evicted. A torrent being downloaded
// or read is never dropped or evicted.
package agent
