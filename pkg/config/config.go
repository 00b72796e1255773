// Package config holds the service's settings: their table, their
// defaults and their validation. Reading them (the defaults, then the
// file named by -config, then the flags) is pkg/settings'.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/settings"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// Config is the complete set of settings. The zero value is not valid;
// start from Default.
type Config struct {
	// Root is the document root. Empty means: the request's
	// DOCUMENT_ROOT, as the web server passes it.
	Root string
	// Cache is the cache folder, holding pieces/ and info/.
	Cache string
	// Trackers is the trackers file: one announce URL per line.
	Trackers string
	// ServiceName is the name the service answers under: /{top}/{name}/...
	ServiceName string
	// PieceLength is the torrent piece length in bytes.
	PieceLength int64
	// Format is the torrent layout: pkgtorrent or bep47.
	Format torrent.Format
	// Revalidate is how long a cached torrent is served before its files'
	// sizes and mtimes are checked again; 0 checks on every request.
	Revalidate time.Duration
	// BaseURL, when set, replaces the request's scheme, host and port in
	// web seed URLs (for mirrors behind a TLS-terminating proxy or a CDN).
	BaseURL string
	// MaxFiles bounds the files of one torrent (glob matches or p fields).
	MaxFiles int
	// Mirrors are the base URLs (scheme://host[:port][/path]) of other
	// mirrors that hold the same tree; each adds a url-list entry after
	// the request's own. Repeatable.
	Mirrors []string
	// DHTNodes are DHT bootstrap nodes, host:port, put in the torrents'
	// nodes key (BEP 5). Repeatable.
	DHTNodes []string
	// MaxWalk bounds the folder entries one glob may read.
	MaxWalk int
	// MaxWalkTime bounds the time one glob may take to expand.
	MaxWalkTime time.Duration
	// MaxTrackers bounds the trackers a torrent gets: the first ones of
	// the trackers file, the others dropped with a warning in the log.
	MaxTrackers int
	// LockTimeout bounds how long a request waits, in all, for other
	// requests or processes that build the same torrent or hash the same
	// file; past it the request is answered 503 with Retry-After. 0 means
	// never wait.
	LockTimeout time.Duration
	// InfoCacheSize bounds the bytes the info cache folder takes on
	// disk, enforced as entries are written (see infocache.Bound).
	InfoCacheSize int64
	// TrackerWhitelist, when set, is the whitelist file of a closed
	// opentracker beside the mirror: the service adds the info hash of
	// every torrent it answers with (see package accesslist).
	TrackerWhitelist string
	// Private marks every torrent private (BEP 27: "private" 1 in the
	// info), so that clients that honour it take peers from its trackers
	// only. It changes every info hash.
	Private bool
	// HashPath is how pieces are hashed: "auto" (measured at start-up,
	// see pieces.Chosen) or a pieces.Path name.
	HashPath string

	// MaxConnections bounds the connections the standalone HTTP server
	// holds at once; at the bound, the longest idle one, else the one
	// longest still sending its request, is closed to make room (see
	// cmd/pkgtorrent-service). It is lowered at start-up to fit the
	// descriptor limit.
	MaxConnections int
	// HeaderTimeout bounds reading a request's header (standalone HTTP).
	HeaderTimeout time.Duration
	// BodyTimeout bounds reading a whole request, header and body
	// (standalone HTTP).
	BodyTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request (standalone HTTP).
	IdleTimeout time.Duration
	// WriteTimeout bounds how long one write of an answer to the client
	// may take (standalone HTTP); it is renewed at every write, so a long
	// download goes on while the client keeps reading.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a request's header (standalone HTTP).
	MaxHeaderBytes int

	// HTTP is the address of the standalone HTTP server, if any.
	HTTP string
	// FCGI is the FastCGI listen address: host:port or unix:/path.
	FCGI string
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		Cache:       "/var/cache/torrent_service",
		Trackers:    "/var/lib/torrent_service/trackers",
		ServiceName: "torrent_service",
		PieceLength: 1 << 20,
		Format:      torrent.BEP47,
		Revalidate:  time.Minute,
		MaxFiles:    10000,
		MaxWalk:     1000000,
		MaxWalkTime: 5 * time.Second,
		MaxTrackers: 100,
		LockTimeout: 25 * time.Second,
		LogLevel:    "info",
		HashPath:    "auto",

		InfoCacheSize:  1 << 30,
		MaxConnections: 1024,
		HeaderTimeout:  10 * time.Second,
		BodyTimeout:    60 * time.Second,
		IdleTimeout:    60 * time.Second,
		WriteTimeout:   30 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
}

// PiecesDir is the piece cache folder: Cache/pieces.
func (c Config) PiecesDir() string { return filepath.Join(c.Cache, "pieces") }

// InfoDir is the info cache folder: Cache/info.
func (c Config) InfoDir() string { return filepath.Join(c.Cache, "info") }

// table is the service's settings, bound to the fields of c.
func (c *Config) table() settings.Table {
	var t settings.Table
	t.Add("root", settings.String(&c.Root), "document root (default: the request's DOCUMENT_ROOT)")
	t.Add("cache", settings.String(&c.Cache), "cache folder")
	t.Add("trackers", settings.String(&c.Trackers), "trackers file, one announce URL per line")
	t.Add("service-name", settings.String(&c.ServiceName),
		"name the service answers under: /{top}/{service-name}/")
	t.Add("piece-length", settings.Size(&c.PieceLength),
		"piece length: bytes, or with a KiB or MiB suffix; a power of two of at least 16 KiB")
	t.Add("format", settings.Func(&c.Format, torrent.ParseFormat, func(f torrent.Format) string { return string(f) }),
		"torrent layout: bep47 (padding marked attr p), pkgtorrent (byte-identical to the original) or hybrid (BitTorrent v1+v2)")
	t.Add("revalidate", settings.Duration(&c.Revalidate),
		"how long a cached torrent is served before its files are checked again (0s: every request)")
	t.Add("base-url", settings.String(&c.BaseURL),
		"scheme://host[:port][/path] for web seed URLs instead of the request's")
	t.Add("max-files", settings.Int(&c.MaxFiles), "most files in one torrent")
	t.Add("mirror", settings.List(&c.Mirrors),
		"base URL of another mirror with the same tree, added to url-list (repeatable)")
	t.Add("dht-node", settings.List(&c.DHTNodes),
		"DHT bootstrap node host:port, put in the torrents' nodes (repeatable)")
	t.Add("max-walk", settings.Int(&c.MaxWalk), "most folder entries one glob may read")
	t.Add("max-walk-time", settings.Duration(&c.MaxWalkTime),
		"longest time one glob may take to expand, then 503")
	t.Add("max-trackers", settings.Int(&c.MaxTrackers),
		"most trackers in a torrent: the first ones of the trackers file")
	t.Add("lock-timeout", settings.Duration(&c.LockTimeout),
		"longest wait for another request or process building the same torrent or hashing the same file, then 503 (0s: never wait)")
	t.Add("info-cache-size", settings.Size(&c.InfoCacheSize),
		"most bytes the info cache takes on disk; the least recently used entries are removed past it (KiB, MiB or GiB suffix)")
	t.Add("tracker-whitelist", settings.String(&c.TrackerWhitelist),
		"whitelist file of a closed opentracker: the service adds the info hash of every torrent it answers with (default: none)")
	t.Add("private", settings.Bool(&c.Private),
		"mark every torrent private (BEP 27): clients that honour it take peers from its trackers only, without DHT or peer exchange; changes every info hash")
	t.Add("hash-path", settings.String(&c.HashPath),
		"how pieces are hashed: auto (the fastest measured at start-up), lanes-mmap, lanes-pread or sha1-pread")
	t.Add("max-connections", settings.Int(&c.MaxConnections),
		"most connections the standalone HTTP server holds at once; at the bound it closes the longest idle or slowest one")
	t.Add("header-timeout", settings.Duration(&c.HeaderTimeout),
		"longest time a client of the standalone HTTP server may take to send a request's header")
	t.Add("body-timeout", settings.Duration(&c.BodyTimeout),
		"longest time a client of the standalone HTTP server may take to send a whole request, header and body")
	t.Add("idle-timeout", settings.Duration(&c.IdleTimeout),
		"longest time the standalone HTTP server keeps an idle connection open for a next request")
	t.Add("write-timeout", settings.Duration(&c.WriteTimeout),
		"longest time one write of an answer (at most 64 KiB) to a client of the standalone HTTP server may take")
	t.Add("max-header-bytes", settings.Size(&c.MaxHeaderBytes),
		"largest request header the standalone HTTP server reads: bytes, or with a KiB suffix")
	t.Add("http", settings.String(&c.HTTP),
		"serve standalone HTTP on this address: the files under -root and the service")
	t.Add("fcgi", settings.String(&c.FCGI), "serve FastCGI on host:port or unix:/path")
	t.Add("log-level", settings.String(&c.LogLevel), "debug, info, warn or error")
	return t
}

// ErrHelp is returned by Load when -h or -help was given.
var ErrHelp = settings.ErrHelp

// service is the command of the service itself.
var service = settings.Command{Usage: "pkgtorrent-service [-config FILE] [-setting value ...]"}

// Load builds the configuration from the defaults, the file named by
// -config (if any) and the flags in args, then validates it. Usage text
// for -h goes to usage.
func Load(args []string, usage io.Writer) (Config, error) {
	c, _, err := LoadCommand(service, args, usage)
	return c, err
}

// LoadCommand is Load for a command that takes the service's settings
// besides its own flags and arguments: the service itself, or one of its
// subcommands (warm, gc), which work on exactly the caches the service
// uses. It returns the arguments left after the flags. -h prints cmd's
// usage, its own flags, then the settings.
func LoadCommand(cmd settings.Command, args []string, usage io.Writer) (Config, []string, error) {
	if cmd.Flags != nil && cmd.Heading == "" {
		cmd.Heading = "Settings (as for the service; flags override -config):"
	}
	return settings.Load(cmd, Default(), (*Config).table, (*Config).Validate, args, usage)
}

// Names returns the names of every setting, as used in the file and as
// flags, in the order they are documented.
func Names() []string {
	var c Config
	return c.table().Names()
}

// DefaultValue returns the default of setting name as text, the way -h
// prints it ("1048576", "1m0s"); "" when it has none. ok is false for an
// unknown name (and for config, which has no value of its own).
func DefaultValue(name string) (value string, ok bool) {
	c := Default()
	s := c.table().Lookup(name)
	if s == nil {
		return "", false
	}
	return s.Value.String(), true
}

// Value reads v as setting name reads it and prints it back as
// DefaultValue does, so that "1MiB" and "1048576", or "1m" and "1m0s",
// compare equal. It checks the syntax of v only, not the whole
// configuration (Validate does that).
func Value(name, v string) (string, error) {
	var c Config
	s := c.table().Lookup(name)
	if s == nil {
		return "", fmt.Errorf("unknown setting %q", name)
	}
	if err := s.Value.Set(v); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s.Value.String(), nil
}

// Validate checks every setting and names the first wrong one.
func (c *Config) Validate() error {
	if !pieces.ValidLength(c.PieceLength) {
		return fmt.Errorf("piece-length: %d: %w", c.PieceLength, pieces.ErrPieceLength)
	}
	if _, err := torrent.ParseFormat(string(c.Format)); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	if c.Revalidate < 0 {
		return fmt.Errorf("revalidate: %v is negative", c.Revalidate)
	}
	if err := settings.CheckSegment(c.ServiceName); err != nil {
		return fmt.Errorf("service-name: %w", err)
	}
	if c.Cache == "" {
		return errors.New("cache: empty")
	}
	if c.HashPath != "auto" {
		if _, err := pieces.ParsePath(c.HashPath); err != nil {
			return fmt.Errorf("hash-path: %w (or auto)", err)
		}
	}
	if c.MaxFiles < 1 {
		return fmt.Errorf("max-files: %d is less than 1", c.MaxFiles)
	}
	if c.MaxWalk < c.MaxFiles {
		return fmt.Errorf("max-walk: %d is less than max-files (%d)", c.MaxWalk, c.MaxFiles)
	}
	if c.MaxWalkTime <= 0 {
		return fmt.Errorf("max-walk-time: %v is not positive", c.MaxWalkTime)
	}
	if c.MaxTrackers < 1 {
		return fmt.Errorf("max-trackers: %d is less than 1", c.MaxTrackers)
	}
	if c.LockTimeout < 0 {
		return fmt.Errorf("lock-timeout: %v is negative", c.LockTimeout)
	}
	if c.InfoCacheSize < 1<<20 {
		return fmt.Errorf("info-cache-size: %d is less than 1 MiB", c.InfoCacheSize)
	}
	if c.MaxConnections < 1 {
		return fmt.Errorf("max-connections: %d is less than 1", c.MaxConnections)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"header-timeout", c.HeaderTimeout}, {"body-timeout", c.BodyTimeout}, {"idle-timeout", c.IdleTimeout}, {"write-timeout", c.WriteTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s: %v is not positive", d.name, d.v)
		}
	}
	if c.BodyTimeout < c.HeaderTimeout {
		return fmt.Errorf("body-timeout: %v is less than header-timeout (%v), and covers the header too", c.BodyTimeout, c.HeaderTimeout)
	}
	if c.MaxHeaderBytes < 1<<10 {
		return fmt.Errorf("max-header-bytes: %d is less than 1 KiB", c.MaxHeaderBytes)
	}
	if c.BaseURL != "" {
		if _, err := settings.ParseBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("base-url: %w", err)
		}
	}
	for _, m := range c.Mirrors {
		if _, err := settings.ParseBaseURL(m); err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
	}
	for _, n := range c.DHTNodes {
		if _, err := ParseNode(n); err != nil {
			return fmt.Errorf("dht-node: %w", err)
		}
	}
	if c.HTTP != "" && c.FCGI != "" {
		return errors.New("http and fcgi: give one of them, not both")
	}
	if c.HTTP != "" && c.Root == "" {
		return errors.New("root: the standalone HTTP server needs a document root")
	}
	if c.Root != "" {
		fi, err := os.Stat(c.Root)
		if err != nil {
			return fmt.Errorf("root: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("root: %s is not a folder", c.Root)
		}
	}
	if err := settings.CheckLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	return nil
}

// ParseNode parses a DHT node setting: host:port, the host a name or an
// address (IPv6 in brackets), the port from 1 to 65535.
func ParseNode(s string) (torrent.Node, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return torrent.Node{}, fmt.Errorf("%q is not host:port: %w", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return torrent.Node{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if host == "" || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == '/' || r >= 0x7f }) {
		return torrent.Node{}, fmt.Errorf("%q: bad host %q", s, host)
	}
	return torrent.Node{Host: host, Port: p}, nil
}
