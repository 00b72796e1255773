package fleet

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// Mirror is nginx serving a test repository under the shipped
// configuration, with pkgtorrent-service behind it over FastCGI.
type Mirror struct {
	Repo     *Repo
	Base     string // http://addr:port
	TLSBase  string // https://addr:port
	CertFile string // the TLS certificate, which is its own CA
	// ClientCerts, for a mirror of StartCertMirror: the client
	// certificate its HTTPS port wants (Client presents it).
	ClientCerts *e2e.ClientCerts
	AccessLog   string
	Client      *http.Client
}

// RepoURL returns the repository's URL on base (with a final slash).
func (m *Mirror) RepoURL(base string) string { return base + "/" + RepoPath + "/" }

// AgentRepoURL returns the repository's URL on base through an agent.
func (m *Mirror) AgentRepoURL(agent, base string) string {
	scheme, host, _ := strings.Cut(base, "://")
	return agent + "/m/" + scheme + "/" + host + "/" + RepoPath + "/"
}

// StartMirror starts the service and nginx in front of it, on two
// loopback ports (HTTP and HTTPS). trackers are the lines of the
// service's trackers file.
func StartMirror(t testing.TB, repo *Repo, trackers []string) *Mirror {
	t.Helper()
	return StartMirrorOn(t, e2e.Node{}, repo, trackers)
}

// StartMirrorOn is StartMirror on node. It returns once both ports serve
// the repository's metadata.
func StartMirrorOn(t testing.TB, node e2e.Node, repo *Repo, trackers []string) *Mirror {
	t.Helper()
	return startMirror(t, e2e.WebOptions{Node: node}, repo, trackers)
}

// StartCertMirror is StartMirror whose HTTPS port wants a client
// certificate (Mirror.ClientCerts) and answers 403 without one; its HTTP
// port does not.
func StartCertMirror(t testing.TB, repo *Repo, trackers []string) *Mirror {
	t.Helper()
	return startMirror(t, e2e.WebOptions{ClientCerts: true}, repo, trackers)
}

func startMirror(t testing.TB, o e2e.WebOptions, repo *Repo, trackers []string) *Mirror {
	t.Helper()
	o.Root, o.Service, o.Trackers, o.Ready = repo.Root, ServiceBinary(t), trackers, "/"+RepoPath+"/repodata/repomd.xml"
	w := e2e.StartNginx(t, o)
	return &Mirror{Repo: repo, Base: w.Base, TLSBase: w.TLSBase, CertFile: w.CertFile, ClientCerts: w.ClientCerts,
		AccessLog: w.AccessLog, Client: w.Client}
}

// TorrentURL is where an agent gets the torrent of a package on base: the
// service's single/ endpoint under the repository's first folder.
func (m *Mirror) TorrentURL(base string, p Pkg) string {
	top, _, _ := strings.Cut(RepoPath, "/")
	return base + "/" + top + "/" + e2e.ServiceName + "/single" + m.Repo.URLPath(p)
}

// InfoHashes fetches the torrent of every package from base and returns
// their info hashes (for opentracker's whitelist).
func (m *Mirror) InfoHashes(t testing.TB, base string) []string {
	t.Helper()
	var hashes []string
	for _, p := range m.Repo.Pkgs {
		u := m.TorrentURL(base, p)
		resp, err := m.Client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v: %q", u, resp.Status, err, body)
		}
		h, err := e2e.InfoHash(body)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

// FromDNF reports whether an access log line's request came from dnf
// (librepo) itself.
func FromDNF(l e2e.LogLine) bool { return strings.HasPrefix(l.Agent, "libdnf") }

// AccessLogLines reads nginx's access log from byte offset off on.
func (m *Mirror) AccessLogLines(t testing.TB, off int64) []e2e.LogLine {
	t.Helper()
	return e2e.AccessLog(t, m.AccessLog, off)
}

// LogOffset returns the access log's size: lines after it are new.
func (m *Mirror) LogOffset(t testing.TB) int64 {
	t.Helper()
	return e2e.Size(t, m.AccessLog)
}

// OriginBytes are the package bytes nginx sent, from its access log.
type OriginBytes struct {
	Total, DNF, Others int64            // all, to dnf itself, to anyone else (agents)
	PerFile            map[string]int64 // by URL path
	DNFFiles           map[string]bool  // packages dnf fetched itself
}

// OriginBytes sums the body bytes of successful GETs of the repository's
// .rpm files (not the service's torrents of them) since log offset off.
func (m *Mirror) OriginBytes(t testing.TB, off int64) OriginBytes {
	t.Helper()
	o := OriginBytes{PerFile: map[string]int64{}, DNFFiles: map[string]bool{}}
	prefix := "/" + RepoPath + "/Packages/"
	for _, l := range m.AccessLogLines(t, off) {
		if l.Method != http.MethodGet || !strings.HasPrefix(l.Path, prefix) || !strings.HasSuffix(l.Path, ".rpm") {
			continue
		}
		o.Total += l.Bytes
		o.PerFile[l.Path] += l.Bytes
		if FromDNF(l) {
			o.DNF += l.Bytes
			if l.Bytes > 0 {
				o.DNFFiles[l.Path] = true
			}
		} else {
			o.Others += l.Bytes
		}
	}
	return o
}

// Copies is n bytes as a number of copies of the repository's packages.
func (m *Mirror) Copies(n int64) float64 { return float64(n) / float64(m.Repo.Total) }

// Swarm is a mirror of the tests' repository with a running tracker
// listed in its trackers file, the usual setting of the fleet tests.
func Swarm(t testing.TB) *Mirror {
	t.Helper()
	repo := Repository(t)
	trackerPort := e2e.Port(t)
	m := StartMirror(t, repo, []string{e2e.Announce(trackerPort)})
	// The info hash does not depend on the scheme of the web seed URL:
	// one whitelist serves the http and the https port.
	e2e.StartOpentracker(t, e2e.Node{}, trackerPort, m.InfoHashes(t, m.Base))
	return m
}

// Install runs the transaction of the repository on every host at once
// (InstallAll), checks each host's downloads, and returns the hosts'
// times and what the mirror sent meanwhile.
func (m *Mirror) Install(t testing.TB, hosts []*Host) ([]time.Duration, OriginBytes) {
	t.Helper()
	off := m.LogOffset(t)
	times := InstallAll(t, hosts, m.Repo)
	for _, h := range hosts {
		h.CheckDownloads(t, m.Repo)
	}
	return times, m.OriginBytes(t, off)
}
