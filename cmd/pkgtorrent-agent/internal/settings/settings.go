// Package settings holds the agent's settings, with the service's
// conventions: defaults, then a file of "key = value" lines (-config),
// then command-line flags, then validation. Every setting is both a file
// key and a flag of the same name.
package settings

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
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
	// are allowed too ("" reads none).
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
	// UploadRate bounds the bytes per second sent to peers (0: no bound).
	UploadRate int64
	// PeersPerTorrent bounds the peer connections of one torrent.
	PeersPerTorrent int
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
	// CAFile adds PEM certificates to the system's roots, for https
	// mirrors with a private CA.
	CAFile string
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:7881",
		PeerPort:        6881,
		Store:           "/var/cache/pkgtorrent-agent",
		ReposDir:        "/etc/yum.repos.d",
		ServiceName:     "torrent_service",
		Packages:        []string{"*.rpm"},
		StoreSize:       10 << 30,
		SeedMin:         15 * time.Minute,
		SeedMax:         24 * time.Hour,
		PeersPerTorrent: 50,
		MaxRequests:     64,
		OriginAfter:     time.Second,
		Stall:           5 * time.Second,
		LogLevel:        "info",
	}
}

type setting struct {
	name, usage string
	set         func(c *Config, v string) error
	get         func(c *Config) string
	// reset, for a repeatable setting, empties its list: set appends.
	reset func(c *Config)
}

var settings = []setting{
	{name: "listen", usage: "address of the HTTP endpoint dnf uses (keep it on loopback)",
		set: func(c *Config, v string) error { c.Listen = v; return nil },
		get: func(c *Config) string { return c.Listen }},
	{name: "peer-port", usage: "BitTorrent port for peers (0: any free port)",
		set: func(c *Config, v string) (err error) { c.PeerPort, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.PeerPort) }},
	{name: "peer-host", usage: "address the BitTorrent port listens on (empty: every address)",
		set: func(c *Config, v string) error { c.PeerHost = v; return nil },
		get: func(c *Config) string { return c.PeerHost }},
	{name: "store", usage: "folder of downloaded files and their torrents",
		set: func(c *Config, v string) error { c.Store = v; return nil },
		get: func(c *Config) string { return c.Store }},
	{name: "allow", usage: "mirror base URL scheme://host[:port][/path] the agent may fetch from (repeatable)",
		set:   func(c *Config, v string) error { c.Allow = append(c.Allow, v); return nil },
		get:   func(c *Config) string { return strings.Join(c.Allow, " ") },
		reset: func(c *Config) { c.Allow = nil }},
	{name: "repos-dir", usage: "folder of .repo files whose baseurl mirrors are allowed too (empty: none)",
		set: func(c *Config, v string) error { c.ReposDir = v; return nil },
		get: func(c *Config) string { return c.ReposDir }},
	{name: "service-name", usage: "name the mirrors' pkgtorrent-service answers under: /{top}/{service-name}/",
		set: func(c *Config, v string) error { c.ServiceName = v; return nil },
		get: func(c *Config) string { return c.ServiceName }},
	{name: "packages", usage: "base-name pattern of files fetched through BitTorrent; others pass through (repeatable)",
		set:   func(c *Config, v string) error { c.Packages = append(c.Packages, v); return nil },
		get:   func(c *Config) string { return strings.Join(c.Packages, " ") },
		reset: func(c *Config) { c.Packages = nil }},
	{name: "store-size", usage: "most bytes of finished files kept in the store: bytes, or with a KiB, MiB or GiB suffix",
		set: func(c *Config, v string) (err error) { c.StoreSize, err = ParseSize(v); return err },
		get: func(c *Config) string { return strconv.FormatInt(c.StoreSize, 10) }},
	{name: "seed-min", usage: "shortest time a finished torrent is seeded",
		set: func(c *Config, v string) (err error) { c.SeedMin, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.SeedMin.String() }},
	{name: "seed-max", usage: "longest time a finished torrent is seeded",
		set: func(c *Config, v string) (err error) { c.SeedMax, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.SeedMax.String() }},
	{name: "upload-rate", usage: "most bytes per second sent to peers, with a KiB, MiB or GiB suffix (0: no bound)",
		set: func(c *Config, v string) (err error) {
			if v == "0" {
				c.UploadRate = 0
				return nil
			}
			c.UploadRate, err = ParseSize(v)
			return err
		},
		get: func(c *Config) string { return strconv.FormatInt(c.UploadRate, 10) }},
	{name: "peers-per-torrent", usage: "most peer connections of one torrent",
		set: func(c *Config, v string) (err error) { c.PeersPerTorrent, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.PeersPerTorrent) }},
	{name: "max-requests", usage: "most requests answered at once; more get 503 so that dnf uses its next mirror",
		set: func(c *Config, v string) (err error) { c.MaxRequests, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.MaxRequests) }},
	{name: "origin-after", usage: "how long a download waits for peers that announced its torrent before fetching from the mirror",
		set: func(c *Config, v string) (err error) { c.OriginAfter, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.OriginAfter.String() }},
	{name: "stall", usage: "how long a request waits for its next verified bytes before streaming the rest from the mirror",
		set: func(c *Config, v string) (err error) { c.Stall, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.Stall.String() }},
	{name: "tracker", usage: "announce URL that replaces the torrents' own trackers (repeatable)",
		set:   func(c *Config, v string) error { c.Trackers = append(c.Trackers, v); return nil },
		get:   func(c *Config) string { return strings.Join(c.Trackers, " ") },
		reset: func(c *Config) { c.Trackers = nil }},
	{name: "ca-file", usage: "PEM file of CA certificates trusted for https mirrors, besides the system's",
		set: func(c *Config, v string) error { c.CAFile = v; return nil },
		get: func(c *Config) string { return c.CAFile }},
	{name: "log-level", usage: "debug, info, warn or error",
		set: func(c *Config, v string) error { c.LogLevel = v; return nil },
		get: func(c *Config) string { return c.LogLevel }},
}

type flagValue struct {
	c     *Config
	s     *setting
	given map[string]bool
}

func (f flagValue) String() string {
	if f.c == nil {
		return ""
	}
	return f.s.get(f.c)
}

func (f flagValue) Set(v string) error {
	// The first of a repeatable flag replaces what the file (or the
	// default) set; the next ones append.
	if f.s.reset != nil && !f.given[f.s.name] {
		f.s.reset(f.c)
		f.given[f.s.name] = true
	}
	return f.s.set(f.c, v)
}

// ErrHelp is returned by Load when -h or -help was given.
var ErrHelp = flag.ErrHelp

// Load builds the settings from the defaults, the file named by -config
// (if any) and the flags in args, then validates them. It returns the
// arguments left after the flags. -h writes the usage to usage.
func Load(usageLine string, args []string, usage io.Writer) (Config, []string, error) {
	c := Default()
	fs := flag.NewFlagSet("pkgtorrent-agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "", "read settings from this file (key = value lines, # comments)")
	given := map[string]bool{}
	for i := range settings {
		fs.Var(flagValue{&c, &settings[i], given}, settings[i].name, settings[i].usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(usage, "Usage: "+usageLine)
			fmt.Fprintln(usage)
			fmt.Fprintln(usage, "Settings (flags override -config):")
			fs.SetOutput(usage)
			fs.PrintDefaults()
		}
		return c, nil, err
	}
	if *configFile != "" {
		c = Default()
		if err := c.readFile(*configFile); err != nil {
			return c, nil, err
		}
		clear(given)
		if err := fs.Parse(args); err != nil {
			return c, nil, err
		}
	}
	return c, fs.Args(), c.Validate()
}

// Names returns every setting's name, as a file key and a flag.
func Names() []string {
	names := []string{"config"}
	for _, s := range settings {
		names = append(names, s.name)
	}
	return names
}

// Get returns the text of the setting name in c, as -h shows defaults.
func (c *Config) Get(name string) (string, bool) {
	for _, s := range settings {
		if s.name == name {
			return s.get(c), true
		}
	}
	return "", false
}

func (c *Config) readFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("config %s:%d: want key = value, got %q", name, n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var s *setting
		for i := range settings {
			if settings[i].name == key {
				s = &settings[i]
			}
		}
		if s == nil {
			return fmt.Errorf("config %s:%d: unknown setting %q", name, n, key)
		}
		// A repeatable key's first line in the file replaces the default.
		if s.reset != nil && !seen[key] {
			s.reset(c)
			seen[key] = true
		}
		if err := s.set(c, val); err != nil {
			return fmt.Errorf("config %s:%d: %s: %w", name, n, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
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
	if c.ServiceName == "" || strings.ContainsAny(c.ServiceName, "/\\\x00") || c.ServiceName == "." || c.ServiceName == ".." {
		return fmt.Errorf("service-name: %q is not one path segment", c.ServiceName)
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
	case c.UploadRate < 0:
		return fmt.Errorf("upload-rate: %d is negative", c.UploadRate)
	case c.PeersPerTorrent < 1:
		return fmt.Errorf("peers-per-torrent: %d is less than 1", c.PeersPerTorrent)
	case c.MaxRequests < 1:
		return fmt.Errorf("max-requests: %d is less than 1", c.MaxRequests)
	case c.OriginAfter < 0:
		return fmt.Errorf("origin-after: %v is negative", c.OriginAfter)
	case c.Stall <= 0:
		return fmt.Errorf("stall: %v is not positive", c.Stall)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// Mirror is an allowed mirror: the scheme, host[:port] and path prefix
// (ending in "/") under which URLs may be fetched.
type Mirror struct {
	Scheme, Host, Path string
}

// ParseMirror reads a mirror base URL: http or https, a host, no user,
// query or fragment. The host is lower-cased and a default port dropped.
func ParseMirror(s string) (Mirror, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Mirror{}, fmt.Errorf("%q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return Mirror{}, fmt.Errorf("%q is not an http or https URL with a host and without user, query or fragment", s)
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

// ParseSize reads a byte count with an optional KiB, MiB or GiB suffix.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, suf := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}} {
		if strings.HasSuffix(s, suf.s) {
			num, mult = strings.TrimSuffix(s, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size in bytes", s)
	}
	return n * mult, nil
}
