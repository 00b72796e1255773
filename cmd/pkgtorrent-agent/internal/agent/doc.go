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
//   - The origin fill (fill.go, rank.go, members.go, scrape.go): pieces
//     the swarm does not bring, from the mirror.
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
// torrent is announced and scraped only at the trackers of the tracker
// setting, or at its own on its mirror's host name; peers come from
// those trackers only (no PEX, no DHT), so neither a torrent nor a peer
// can make the agent connect to a host of its choosing.
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
// (package pieces), before anything of it is served or uploaded. A file
// read whole is also checked against the SHA-256 of the primary.xml dnf
// fetched through the agent (repometa.go); on a mismatch its last bytes
// are withheld. A torrent whose length is not that metadata's size is not
// used.
//
// A request is never much slower than the mirror: when its torrent makes
// no progress for stall, or when the store cannot hold the download (a
// full disk), it streams the rest straight from the mirror, and the
// torrent goes on in the swarm; when the torrent progresses but the
// request's next piece is late (4 x stall, then stall for the pieces
// after it), it fetches that piece from the mirror into the torrent
// (TestLatePieceFromMirror), in its turn among the hosts the fill ranks
// among: hosts that read a file together find
// the same piece late together, and one of them fetches it while the
// others wait up to stall for it (TestLatePieceInTurn).
//
// Among hosts that start a torrent together, each piece the swarm lacks
// is fetched from the mirror by about one host (see fill), also in a
// swarm of more hosts than a host connects to (peers-per-torrent, 12):
// the fill ranks itself among the hosts the trackers list to an
// announce of its own (members.go), by their addresses, whether it is
// connected to them or not, and counts the rest of the swarm from a
// scrape (scrape.go). Twelve connections rather than fifty cost the
// agents at 40 hosts half the CPU and the fleet half the time, the
// mirror no more copies (cmd/pkgtorrent-bench/README.md).
//
// No host carries the fleet: past upload-share copies of a torrent's
// length uploaded, a host refuses a request once when another connected
// peer has the block's piece, or when the asking peer is an agent, and
// serves it when asked again (the engine's share rule, PATCHED.md change
// 8). An agent refused a block takes it from another of its peers that
// has the piece, and asks again only when none has. So a host uploads of
// a torrent at most upload-share copies plus the blocks its peers could
// get from no one else, and no agent's download waits for the bound or
// turns to the mirror because of it (TestUploadShare,
// TestUploadShareOnlySource).
//
// Those blocks its peers could get from no one else are the most a host
// uploads when it has a file before the others start it: every host
// reads the file from its start, and all ask it for the same first
// pieces. Served all at once, each at a share of its upload, none could
// pass a piece on before all had it. So a piece no other connected peer
// has goes to upload-fan-out peers (2) at a time; the others' requests
// for it are held until one of those has it, and are then refused so
// that they take it there, or are served after 2 s (engine patch 11,
// TestUploadFanOutHolds). A request the share rule refused once is never
// refused again: held, it is served when another peer has the piece.
//
// # Hostile peers, mirrors and local users
//
// Each row: the attack; the bound; the test that checks it (go test -race
// -run NAME in this package, or in cmd/pkgtorrent-agent for the ones
// marked so), which fails without the bound; before -> after, measured.
//
//   - A local user binds the agent's port while it is down and answers
//     dnf. Bound: under systemd the port is pkgtorrent-agent.socket's,
//     held while the agent is down; the agent serves on the sockets
//     passed (Serve). TestSocketActivation (cmd/pkgtorrent-agent).
//     Before -> after: the other user's server answered -> connections
//     wait in systemd's queue for the agent.
//   - Peers request blocks and never read the answers. Bound: at most
//     128 KiB of data read and 256 requests queued per connection
//     (engine, third_party/torrent/PATCHED.md); peer-conns (512) and
//     peer-conns-per-address (64). TestPeerMemoryBound. Before -> after:
//     200 such connections, peak RSS 867 MiB -> 198 MiB; from one
//     address, 200 -> 64 served; a download meanwhile still comes whole
//     through its torrent.
//   - Connections that never handshake. Bound: peer-conns counts them
//     from accept; past it they are closed before anything is read.
//     TestHalfOpenBound. Before -> after: 300 silent connections, 300 ->
//     100 held (peer-conns 100).
//   - Two agents' transfers stall (not an attack; the engine's own
//     races, which a hostile peer's bound must not make worse). Bound: the
//     engine reads a connection's requests in the order they came, and its
//     writer takes its wake-up before it looks for work
//     (third_party/torrent/PATCHED.md, changes 1 and 4); a download waits
//     for a dial in flight up to origin-after before it fetches
//     everything from the mirror. TestPeersServe, run in a loop by two
//     test processes at once (-race, load average 8 on 2 cores). Before ->
//     after: 6 failures in about 330 runs (4 with nothing from a seeding
//     peer for 30 s, 2 with part from the mirror) -> none in 238 runs
//     in a row (119 in each process).
//   - A peer's PEX or ut_holepunch connect message names an address for
//     the agent to dial. Bound: PEX is off, and hole-punching with it
//     (the engine offered and obeyed ut_holepunch regardless: PATCHED.md,
//     change 5); peers come from the trackers only. TestNoPEX. Before ->
//     after: dialed within 2 ms, up to 500 a second (PEX), twice in 2 s
//     (holepunch) -> never.
//   - A torrent's announce list names a host for the agent to contact.
//     Bound: only the tracker setting's trackers, or the torrent's own on
//     its mirror's host name, are announced to (announceList).
//     TestTrackersOnMirrorHostOnly. Before -> after: any announce URL ->
//     the mirror's host only.
//   - A peer from outside the fleet's networks connects, or is named.
//     Bound: with peer-network set, the engine refuses it and never
//     dials it; encryption = require refuses plain handshakes.
//     TestPeerNetworks.
//   - A torrent says more than the file asked for (a name.utf-8 the
//     engine would store it under, a size past max-file-size, more pieces
//     than max-pieces). Bound: refused before anything is stored; the
//     request passes through; nothing of it stays in the store.
//     TestHostileTorrents. Before -> after: a 1 TiB torrent accepted and
//     downloaded past store-size -> refused.
//   - A torrent, or the mirror's file, is not what the repo metadata says.
//     Bound: sizes and SHA-256s come from the primary.xml dnf fetches
//     through the agent (repometa.go); a torrent of another size is not
//     added, a file of another digest loses its last bytes. TestRepoMetadata.
//   - A local user posts a wrong size or SHA-256 to /prefetch. Bound: it
//     is checked against the repo metadata and never kept. TestPrefetch,
//     TestRepoMetadata. Before -> after: dnf's next download of the
//     package cut short -> served whole; the prefetch entry refused.
//   - A web page or a DNS-rebinding page posts a prefetch, or a local
//     program floods it. Bound: /prefetch takes application/json with a
//     loopback Host only; all prefetches share one window of
//     prefetchWindow torrents and at most maxPrefetchQueued waiting
//     packages; a request's header must arrive within 10 s, the whole
//     request within 30 s. TestPrefetchOnlyLocal, TestPrefetchWindow,
//     TestSlowRequests. Before -> after: 10 POSTs started 160 torrent
//     fetches at once -> 16; a body that never came held the connection
//     -> closed after 30 s.
//   - The agent's port answers the dnf plugin by dripping or with a huge
//     answer. Bound: the plugin's timeout bounds its whole call and it
//     reads at most 1 MiB. TestFleetPluginBounded (cmd/pkgtorrent-agent).
//     Before -> after: resolved() held 30 s -> 2 s.
//   - A repo's username/password would reach the agent. Bound: repos -w
//     leaves such repos on their mirror and says why; their mirrors are not
//     on the allow-list. TestReposCredentialsAndSubscriptionManager
//     (cmd/pkgtorrent-agent).
//   - A mirror that needs a client certificate: its files must not reach
//     hosts without one, nor its certificate another mirror. Bound: the
//     repo's certificate, key and CA go to that mirror only, on
//     connections of their own (clientcert.go); its torrents are shared
//     inside peer-network only, and with no peer without it (the engine
//     refuses the handshake). TestClientCertificates, TestPrivateTorrents,
//     TestFleetClientCert (cmd/pkgtorrent-agent). Before -> after: the repo
//     left on its mirror -> through the agent; a peer given the agent's
//     address gets none of such a torrent (all of any other).
//
// # What the agent costs as the fleet grows
//
// Issue 20's bounds: each row names the test that checks its structure
// (go test -race -run NAME in this package) and the benchmark that
// measures it (go test -run '^$' -bench NAME; make bench runs them),
// with the figures of 2026-12-06 (2 cores), before -> after.
//
//   - An idle agent seeding 500 finished torrents costs under 1 % of a
//     core, whatever the fleet. Bound: a finished torrent dials no one
//     and wants no peers (the engine's patch 6, PATCHED.md): it announces
//     at the tracker's interval (opentracker's: about 30 minutes) and
//     only takes connections, from the hosts that want its pieces;
//     nothing of the agent runs per torrent on a timer (the janitor's
//     round every 5 s walks the items once). TestSeedDialsNoOne;
//     BenchmarkIdleSeeding (500 torrents of 64 KiB, opentracker, 90 s):
//     one agent 0.099 % -> 0.065 % of a core; three that find each other
//     2.48 % -> 0.048 % each (each finished torrent dialed the other
//     seeds at each announce, every minute, and dropped them as mutually
//     complete after an encrypted handshake: a cost that grew with the
//     fleet).
//   - /status and /metrics never wait on the engine's lock, nor on
//     Swarm.mu (held around some engine calls): they answer figures the
//     refresher takes when asked, or, past statusWait (50 ms), the latest
//     taken, whose time /status gives (CurrentStatus). A pass-through
//     touches neither lock. TestHTTPWithoutEngineLock (the engine's lock
//     held: no answer in 5 s -> 51 to 57 ms). The Prometheus registry
//     holds one collector (sequential): with several it yields once per
//     collector at each scrape, and a yield waits for every runnable
//     goroutine. BenchmarkHTTPUnderLoad (three agent processes exchanging
//     384 MiB each, the probed one with 500 stored torrents, timed by
//     curl; 2 runs of 3): the slowest answers 38 to 73 ms when the probed
//     agent has the cores first (nice -10, its own load unchanged), 96 to
//     155 ms when it shares them alike with the other two agents, the
//     mirror and the clients: the wait for a core, not a lock, makes that
//     tail on the bench's two cores.
//   - A request waiting for a piece sleeps until the engine's piece
//     state changes, the store fails, its stall's deadline or its end
//     (reader.go), and calls the engine only then.
//     TestWaitingReadersLeaveTheEngine, TestStallFallsBack;
//     BenchmarkWaitingReaders: 128 waiting requests 5.3 % -> 0.038 % of
//     a core (each looked every 20 ms, two calls that take the engine's
//     lock).
//   - The engine's files: at most 64 descriptors held open between
//     block reads and writes, least recently used closed first; a
//     dropped or evicted torrent's files are closed before it is deleted
//     (third_party/torrent/PATCHED.md, change 7). TestHeldFiles. The
//     release opened and closed the file around each 16 KiB block.
//
// What still runs on a timer, only while a torrent downloads: its fill
// looks at its connections every 20 ms for up to origin-after before
// it starts, and plans every 100 ms while pieces are missing (fill.go).
//
// # Seeding and eviction
//
// A finished torrent is seeded in full (peers-per-torrent connections)
// for a time between seed-min and seed-max after its last use, spread by
// host; then it is stored. The stored-seeds most recently used stored
// torrents stay in the client, announced at the tracker's interval, with
// at most storedPeers connections: a host that asks for the file later
// finds this one through the tracker and gets the file from it. A use
// makes a stored torrent active again. The other stored torrents are out
// of the swarm (with stored-seeds 0, every torrent leaves the swarm at
// the end of its seeding time). After a restart, the torrents of the
// store in their seeding time and the stored-seeds most recently used of
// the others are hashed and announced again; the rest are hashed when
// asked for. A file stays in the store until the store holds more than
// store-size, when the least recently used finished files leave the
// swarm and are evicted. A torrent being downloaded or read is never
// dropped or evicted.
package agent
