// Command pkgtorrent-agent is the fleet half of pkgtorrent: a daemon on
// each host that dnf reaches through a local-first mirror list, and that
// downloads packages through the BitTorrent torrents the mirror's
// pkgtorrent-service hands out, with the mirror's web server as web seed
// and the other hosts' agents as peers.
//
// It is its own Go module, so that the BitTorrent engine's dependencies
// (github.com/anacrolix/torrent and about 240 modules) never reach the
// service's binary or its go.mod; it requires the root module (through a
// replace directive) for what both products share.
//
// Usage:
//
//	pkgtorrent-agent [-config FILE] [-listen 127.0.0.1:7881] [-peer-port 6881]
//	    [-store /var/cache/pkgtorrent-agent] [-allow URL]...
//	pkgtorrent-agent repos [-w] [-d DIR] [-listen ADDR] [-config FILE]
//	pkgtorrent-agent fetch [-agent URL] [-o DIR] [-torrent] URL...
//	pkgtorrent-agent dnf5-prefetch [-agent URL] [-timeout 2s]
//
// A repo's baseurl lists the agent first and the mirror second:
//
//	baseurl=http://127.0.0.1:7881/m/http/mirror.example.org/yum/el9/x86_64/
//	        http://mirror.example.org/yum/el9/x86_64/
//
// "pkgtorrent-agent repos" puts the agent first in that way in the
// baseurl of every repo of /etc/yum.repos.d (but for repos with a
// password, and subscription-manager's redhat.repo, for which it prints
// repo-override commands: see internal/repos; the agent presents a repo's
// client certificate to its mirror itself): a diff, or the files
// written with -w. "pkgtorrent-agent fetch" downloads files through the
// running agent, as dnf does. "pkgtorrent-agent dnf5-prefetch" is the dnf 5
// plugin: libdnf5's actions plugin runs it when a transaction is resolved
// (deploy/dnf/pkgtorrent.actions), and it posts the transaction's
// packages to the agent's /prefetch, as the dnf 4 plugin
// deploy/dnf/pkgtorrent.py does.
//
// Endpoints: GET and HEAD /m/{scheme}/{host[:port]}/{path} (the bytes of
// {scheme}://{host[:port]}/{path}), POST /prefetch (the packages of a
// transaction, from the dnf plugins), GET /status (JSON), GET /metrics
// (Prometheus text format).
//
// The parts: this package holds the command line (main.go) and the
// subcommands (fetch.go, repos.go, dnf5prefetch.go); internal/agent the daemon,
// internal/engine the BitTorrent engine under it, internal/repos the
// .repo files, internal/settings the settings. third_party/torrent is the
// engine, anacrolix/torrent v1.59.1 with two changes that bound a peer's
// memory (third_party/torrent/PATCHED.md).
//
// The operator's reference is pkgtorrent-agent(8) and
// pkgtorrent-agent.conf(5) in deploy/man; deploy/ also holds the settings
// file, the systemd unit and the RPM spec's pkgtorrent-agent package, and
// deploy_test.go checks them against this program.
package main
