// Command pkgtorrent-agent is the fleet half of pkgtorrent: a daemon on
// each host that dnf reaches through a local-first mirror list, and that
// downloads packages through the BitTorrent torrents the mirror's
// pkgtorrent-service hands out, with the mirror's web server as web seed
// and the other hosts' agents as peers.
//
// It is its own Go module, so that the BitTorrent engine's dependencies
// (github.com/anacrolix/torrent and about 240 modules) never reach the
// service's binary or its go.mod: the service runs on every mirror and
// keeps a small dependency set.
//
// Usage:
//
//	pkgtorrent-agent [-config FILE] [-listen 127.0.0.1:7881] [-peer-port 6881]
//	    [-store /var/cache/pkgtorrent-agent] [-allow URL]...
//
// A repo's baseurl lists the agent first and the mirror second:
//
//	baseurl=http://127.0.0.1:7881/m/http/mirror.example.org/yum/el9/x86_64/
//	        http://mirror.example.org/yum/el9/x86_64/
//
// Endpoints: GET and HEAD /m/{scheme}/{host[:port]}/{path} (the bytes of
// {scheme}://{host[:port]}/{path}), GET /status (JSON), GET /metrics
// (Prometheus text format).
//
// The operator's reference is pkgtorrent-agent(8) and
// pkgtorrent-agent.conf(5) in deploy/man; deploy/ also holds the settings
// file, the systemd unit and the RPM spec's pkgtorrent-agent package, and
// deploy_test.go checks them against this program.
package main
