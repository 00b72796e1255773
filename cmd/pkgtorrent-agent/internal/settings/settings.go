// Package settings holds the agent's settings: their table, their
// defaults and their validation. They are read as the service's are, by
// the root module's pkg/settings: defaults, then a file of "key = value"
// lines (-config), then command-line flags; every setting is both a file
// key and a flag of the same name.
package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	pkgsettings "github.com/pkgtorrent/pkgtorrent-service/pkg/settings"
)

// Config is the complete set of the agent's settings. Start from Default.
type Config struct {
	// Listen is the address of the agent's HTTP endpoint (dnf's first
	// baseurl). Loopback by default: the agent is not a network proxy.
	Listen string
	// PeerPort is the BitTorrent port; 0 picks a free one.
	PeerPort int
	// PeerHost is the address the BitTorrent port listens on: empty for
	// every address, or one IPv4 or IPv6 address.
	PeerHost string
	// Store is the folder of downloaded files and their torrents.
	Store string
	// Allow are the mirrors the agent fetches from: base URLs
	// scheme://host[:port][/path]. Repeatable.
	Allow []string
	// ReposDir is a folder of yum/dnf .repo files whose baseurl mirrors
	// are allowed too, but for those of repos with credentials (see
	// repos.BaseURLs); "" reads none.
	ReposDir string
	// ServiceName is the name the mirrors' pkgtorrent-service answers
	// under: /{top}/{service-name}/single/...
	ServiceName string
	// Packages are the base-name patterns (path.Match) of the files
	// downloaded through BitTorrent; others are passed through from the
	// mirror. Repeatable.
	Packages []string
	// StoreSize bounds the bytes of finished files kept in Store.
	StoreSize int64
	// SeedMin and SeedMax bound how long a finished torrent is seeded;
	// each host picks its time in between from a hash of its host name
	// and the torrent (as yum-torrent did), so that hosts leave apart.
	SeedMin, SeedMax time.Duration
	// StoredSeeds bounds the finished torrents past their seeding time
	// that stay announced, with few connections, so that hosts that come
	// later find them (the most recently used first); the others stay in
	// the store only. 0: a torrent leaves the swarm at its seeding time.
	StoredSeeds int
	// UploadRate bounds the bytes per second sent to peers (0: no bound).
	UploadRate int64
	// UploadShare is what the agent uploads of a torrent, in copies of
	// its length, before it refuses, once, a request for a block another
	// peer could give (0: no bound; see the engine's share rule).
	UploadShare float64
	// UploadFanOut is how many peers at a time are served a piece no
	// other connected peer has; the others' requests for it wait until
	// another peer has it, 2 s at most (0: every peer at once).
	UploadFanOut int
	// PeersPerTorrent bounds the peer connections of one torrent.
	PeersPerTorrent int
	// PeerConns bounds the agent's peer connections open at once, both
	// ways, handshakes included; PeerConnsPerAddress bounds those with
	// one remote address.
	PeerConns, PeerConnsPerAddress int
	// CPUs is how many cores the agent's goroutines run on at once (Go's
	// GOMAXPROCS); 0 leaves it to Go (the GOMAXPROCS environment
	// variable, else the cores the process may use). The engine does most
	// of its work under one lock, and on a host whose cores are all busy
	// a second one costs more in hand-offs between threads than it gives:
	// 1 by default (the fleet benchmark at 40 hosts, bench README).
	CPUs int
	// MaxRequests bounds the requests the agent answers at once; more get
	// 503 at once, so that dnf moves to its next mirror.
	MaxRequests int
	// OriginAfter is how long a download whose torrent has peers waits,
	// at most, for its connections to settle before it fetches its share
	// of the pieces from the mirror, and the least patience for a piece
	// left to a host ranked above (see the agent's fill). A torrent
	// without known peers starts from the mirror at once.
	OriginAfter time.Duration
	// Stall is how long a request waits while its torrent makes no
	// progress (4 x Stall for its own next piece) before it streams the
	// rest straight from the mirror (the download stays in the swarm).
	Stall time.Duration
	// Trackers, when set, replace the torrents' announce lists (for fleets
	// with their own tracker). Repeatable.
	Trackers []string
	// MaxFileSize and MaxPieces bound the file and the pieces of a
	// torrent the agent takes: a torrent past them is not downloaded
	// (the request passes through to the mirror).
	MaxFileSize int64
	MaxPieces   int
	// PeerNetworks, when set, are the only networks (CIDR) whose peers
	// the agent accepts connections from and dials. Repeatable.
	PeerNetworks []string
	// Encryption is the BitTorrent protocol encryption (MSE) of peer
	// connections: prefer, require or off.
	Encryption string
	// CAFile adds PEM certificates to the system's roots, for https
	// mirrors with a private CA.
	CAFile string
	// Proxy is the proxy of the agent's requests to mirrors (torrents,
	// pieces, files passed through): a URL (ParseProxy), NoProxy for
	// none, or "" for dnf's own, per mirror (see the agent's Mirrors):
	// that of the repo files that name it, else DNFConf's [main] one.
	Proxy string
	// DNFConf is dnf's configuration file, whose [main] proxy options
	// the agent follows when Proxy is ""; "" reads none.
	DNFConf string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// Pprof serves Go's profiles at /debug/pprof/ and the engine's
	// counters at /debug/vars on the HTTP endpoint.
	Pprof bool
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		Listen:              "127.0.0.1:7881",
		PeerPort:            6881,
		Store:               "/var/cache/pkgtorrent-agent",
		ReposDir:            "/etc/yum.repos.d",
		ServiceName:         "torrent_service",
		Packages:            []string{"*.rpm"},
		StoreSize:           10 << 30,
		SeedMin:             15 * time.Minute,
		SeedMax:             24 * time.Hour,
		StoredSeeds:         500,
		UploadShare:         1.5,
		UploadFanOut:        2,
		PeersPerTorrent:     12,
		PeerConns:           512,
		PeerConnsPerAddress: 64,
		CPUs:                1,
		MaxRequests:         64,
		OriginAfter:         time.Second,
		Stall:               5 * time.Second,
		Encryption:          "off",
		DNFConf:             "/etc/dnf/dnf.conf",
		MaxFileSize:         16 << 30,
		MaxPieces:           65536,
		LogLevel:            "info",
	}
}

// table is the agent's settings, bound to the fields of c.
func (c *Config) table() pkgsettings.Table {
	var t pkgsettings.Table
	t.Add("listen", pkgsettings.String(&c.Listen), "address of the HTTP endpoint dnf uses (keep it on loopback)")
	t.Add("peer-port", pkgsettings.Int(&c.PeerPort), "BitTorrent port for peers (0: any free port)")
	t.Add("peer-host", pkgsettings.String(&c.PeerHost), "address the BitTorrent port listens on (empty: every address)")
	t.Add("store", pkgsettings.String(&c.Store), "folder of downloaded files and their torrents")
	t.Add("allow", pkgsettings.List(&c.Allow),
		"mirror base URL scheme://host[:port][/path] the agent may fetch from (repeatable)")
	t.Add("repos-dir", pkgsettings.String(&c.ReposDir),
		"folder of .repo files whose baseurl mirrors are allowed too, but for repos with credentials (empty: none)")
	t.Add("service-name", pkgsettings.String(&c.ServiceName),
		"name the mirrors' pkgtorrent-service answers under: /{top}/{service-name}/")
	t.Add("packages", pkgsettings.List(&c.Packages),
		"base-name pattern of files fetched through BitTorrent; others pass through (repeatable)")
	t.Add("store-size", pkgsettings.Size(&c.StoreSize),
		"most bytes of finished files kept in the store: bytes, or with a KiB, MiB, GiB or TiB suffix")
	t.Add("seed-min", pkgsettings.Duration(&c.SeedMin), "shortest time a finished torrent is seeded")
	t.Add("seed-max", pkgsettings.Duration(&c.SeedMax), "longest time a finished torrent is seeded")
	t.Add("stored-seeds", pkgsettings.Int(&c.StoredSeeds),
		"most stored files past their seeding time still announced, with few connections, for late hosts (0: none)")
	t.Add("upload-rate", pkgsettings.Size(&c.UploadRate),
		"most bytes per second sent to peers, with a KiB, MiB or GiB suffix (0: no bound)")
	t.Add("upload-share", copies(&c.UploadShare),
		"copies of a torrent uploaded past which a request another peer could serve is refused once (0: no bound)")
	t.Add("upload-fan-out", pkgsettings.Int(&c.UploadFanOut),
		"peers served at a time a piece no other peer has; the others wait for one to have it, 2 s at most (0: all)")
	t.Add("peers-per-torrent", pkgsettings.Int(&c.PeersPerTorrent), "most peer connections of one torrent")
	t.Add("peer-conns", pkgsettings.Int(&c.PeerConns),
		"most peer connections open at once, both ways, handshakes included")
	t.Add("peer-conns-per-address", pkgsettings.Int(&c.PeerConnsPerAddress),
		"most peer connections open at once with one remote address")
	t.Add("cpus", pkgsettings.Int(&c.CPUs),
		"most cores the agent runs on at once, Go's GOMAXPROCS (0: Go's choice)")
	t.Add("max-requests", pkgsettings.Int(&c.MaxRequests),
		"most requests answered at once; more get 503 so that dnf uses its next mirror")
	t.Add("origin-after", pkgsettings.Duration(&c.OriginAfter),
		"how long a download waits for peers that announced its torrent before fetching from the mirror")
	t.Add("stall", pkgsettings.Duration(&c.Stall),
		"how long a request waits while no byte of its torrent arrives before streaming the rest from the mirror")
	t.Add("tracker", pkgsettings.List(&c.Trackers),
		"announce URL that replaces the torrents' own trackers (repeatable)")
	t.Add("max-file-size", pkgsettings.Size(&c.MaxFileSize),
		"largest file the agent takes through its torrent; a larger one passes through to the mirror")
	t.Add("max-pieces", pkgsettings.Int(&c.MaxPieces),
		"most pieces of a torrent the agent takes; one with more passes through to the mirror")
	t.Add("peer-network", pkgsettings.List(&c.PeerNetworks),
		"network (CIDR) whose peers the agent accepts and dials; none set: any (repeatable)")
	t.Add("encryption", pkgsettings.String(&c.Encryption),
		"BitTorrent protocol encryption of peer connections: prefer, require or off")
	t.Add("ca-file", pkgsettings.String(&c.CAFile),
		"PEM file of CA certificates trusted for https mirrors, besides the system's")
	t.Add("proxy", pkgsettings.String(&c.Proxy),
		"proxy URL of requests to mirrors, or _none_ (empty: dnf's, from dnf-conf and the repo files)")
	t.Add("dnf-conf", pkgsettings.String(&c.DNFConf),
		"dnf's configuration file, whose [main] proxy options apply when proxy is empty (empty: none)")
	t.Add("log-level", pkgsettings.String(&c.LogLevel), "debug, info, warn or error")
	t.Add("pprof", pkgsettings.Bool(&c.Pprof),
		"serve Go's CPU, heap and goroutine profiles at /debug/pprof/ and the engine's counters at /debug/vars on the listen address (to find where the agent's time goes)")
	return t
}

// copies is the Value of a number of copies: a decimal number such as 2
// or 1.5.
func copies(p *float64) flag.Value {
	parse := func(s string) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	}
	return pkgsettings.Func(p, parse, func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) })
}

// ErrHelp is returned by Load when -h or -help was given.
var ErrHelp = pkgsettings.ErrHelp

// Load builds the settings from the defaults, the file named by -config
// (if any) and the flags in args, then validates them. It returns the
// arguments left after the flags. -h writes the usage to usage.
func Load(usageLine string, args []string, usage io.Writer) (Config, []string, error) {
	cmd := pkgsettings.Command{Usage: usageLine, Args: true}
	return pkgsettings.Load(cmd, Default(), (*Config).table, (*Config).Validate, args, usage)
}

// Names returns every setting's name, as a file key and a flag.
func Names() []string {
	var c Config
	return c.table().Names()
}

// Get returns the text of the setting name in c, as -h shows defaults.
func (c *Config) Get(name string) (string, bool) {
	s := c.table().Lookup(name)
	if s == nil {
		return "", false
	}
	return s.Value.String(), true
}

// Validate checks every setting and names the first wrong one.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if c.PeerPort < 0 || c.PeerPort > 65535 {
		return fmt.Errorf("peer-port: %d is not from 0 to 65535", c.PeerPort)
	}
	if c.PeerHost != "" {
		if _, err := netip.ParseAddr(c.PeerHost); err != nil {
			return fmt.Errorf("peer-host: %q is not an IP address", c.PeerHost)
		}
	}
	if c.MaxFileSize <= 0 {
		return fmt.Errorf("max-file-size: %d is not positive", c.MaxFileSize)
	}
	if c.MaxPieces <= 0 {
		return fmt.Errorf("max-pieces: %d is not positive", c.MaxPieces)
	}
	for _, n := range c.PeerNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			return fmt.Errorf("peer-network: %q is not a network in CIDR notation (10.0.0.0/8, fd00::/8)", n)
		}
	}
	switch c.Encryption {
	case "prefer", "require", "off":
	default:
		return fmt.Errorf("encryption: %q is not prefer, require or off", c.Encryption)
	}
	if c.Store == "" {
		return errors.New("store: empty")
	}
	for _, a := range c.Allow {
		if _, err := ParseMirror(a); err != nil {
			return fmt.Errorf("allow: %w", err)
		}
	}
	for _, t := range c.Trackers {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "udp") || u.Host == "" {
			return fmt.Errorf("tracker: %q is not an http, https or udp announce URL", t)
		}
	}
	if err := pkgsettings.CheckSegment(c.ServiceName); err != nil {
		return fmt.Errorf("service-name: %w", err)
	}
	for _, p := range c.Packages {
		if _, err := path.Match(p, ""); err != nil || strings.Contains(p, "/") {
			return fmt.Errorf("packages: %q is not a base-name pattern", p)
		}
	}
	switch {
	case c.StoreSize <= 0:
		return fmt.Errorf("store-size: %d is not positive", c.StoreSize)
	case c.SeedMin < 0 || c.SeedMax < c.SeedMin:
		return fmt.Errorf("seed-min, seed-max: want 0 <= seed-min (%v) <= seed-max (%v)", c.SeedMin, c.SeedMax)
	case c.StoredSeeds < 0:
		return fmt.Errorf("stored-seeds: %d is negative", c.StoredSeeds)
	case c.UploadRate < 0:
		return fmt.Errorf("upload-rate: %d is negative", c.UploadRate)
	case !(c.UploadShare >= 0) || math.IsInf(c.UploadShare, 1):
		return fmt.Errorf("upload-share: %v is not a number of copies >= 0", c.UploadShare)
	case c.UploadFanOut < 0:
		return fmt.Errorf("upload-fan-out: %d is negative", c.UploadFanOut)
	case c.CPUs < 0:
		return fmt.Errorf("cpus: %d is negative", c.CPUs)
	case c.PeersPerTorrent < 1:
		return fmt.Errorf("peers-per-torrent: %d is less than 1", c.PeersPerTorrent)
	case c.PeerConns < 1:
		return fmt.Errorf("peer-conns: %d is less than 1", c.PeerConns)
	case c.PeerConnsPerAddress < 1 || c.PeerConnsPerAddress > c.PeerConns:
		return fmt.Errorf("peer-conns-per-address: want 1 <= %d <= peer-conns (%d)", c.PeerConnsPerAddress, c.PeerConns)
	case c.MaxRequests < 1:
		return fmt.Errorf("max-requests: %d is less than 1", c.MaxRequests)
	case c.OriginAfter < 0:
		return fmt.Errorf("origin-after: %v is negative", c.OriginAfter)
	case c.Stall <= 0:
		return fmt.Errorf("stall: %v is not positive", c.Stall)
	}
	if c.Proxy != "" && c.Proxy != NoProxy {
		if _, err := ParseProxy(c.Proxy); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	if err := pkgsettings.CheckLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	return nil
}

// NoProxy is the proxy setting for none, as dnf spells it.
const NoProxy = "_none_"

// ParseProxy reads a proxy URL as dnf's proxy option takes it
// ([scheme://][user:password@]host[:port], http:// when no scheme is
// given) for the schemes the agent's HTTP client speaks: http, https,
// socks5 and socks5h. A user and password in the URL are sent to the
// proxy (Basic authentication for http and https ones).
func ParseProxy(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		// Not url.Error's own text, which would show a password.
		return nil, fmt.Errorf("not a URL: %w", ue.Err)
	} else if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("%q: the agent speaks to http, https, socks5 and socks5h proxies, not %s", u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not scheme://host[:port]", u.Redacted())
	}
	return u, nil
}

// Mirror is an allowed mirror: the scheme, host[:port] and path prefix
// (ending in "/") under which URLs may be fetched.
type Mirror struct {
	Scheme, Host, Path string
}

// Covers reports whether the URL of scheme, canonical host and unescaped
// path is under m.
func (m Mirror) Covers(scheme, host, path string) bool {
	return m.Scheme == scheme && m.Host == host && strings.HasPrefix(path, m.Path)
}

// ParseMirror reads a mirror base URL: http or https, a host, no user,
// query or fragment. The host is lower-cased and a default port dropped.
func ParseMirror(s string) (Mirror, error) {
	u, err := pkgsettings.ParseBaseURL(s)
	if err != nil {
		return Mirror{}, err
	}
	p := u.Path
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return Mirror{Scheme: u.Scheme, Host: CanonicalHost(u.Scheme, u.Host), Path: p}, nil
}

// CanonicalHost lower-cases host and drops the scheme's default port.
func CanonicalHost(scheme, host string) string {
	host = strings.ToLower(host)
	if h, p, err := net.SplitHostPort(host); err == nil &&
		((scheme == "http" && p == "80") || (scheme == "https" && p == "443")) {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}
