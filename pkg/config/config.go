// Package config holds the service's settings: defaults, then a
// configuration file, then command-line flags, then validation.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
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

// setting is one key, settable from the file and as a flag.
type setting struct {
	name, usage string
	set         func(c *Config, v string) error
	get         func(c *Config) string
	// reset, for a repeatable setting, empties its list: set appends.
	reset func(c *Config)
}

var settings = []setting{
	{"root", "document root (default: the request's DOCUMENT_ROOT)",
		func(c *Config, v string) error { c.Root = v; return nil },
		func(c *Config) string { return c.Root }, nil},
	{"cache", "cache folder",
		func(c *Config, v string) error { c.Cache = v; return nil },
		func(c *Config) string { return c.Cache }, nil},
	{"trackers", "trackers file, one announce URL per line",
		func(c *Config, v string) error { c.Trackers = v; return nil },
		func(c *Config) string { return c.Trackers }, nil},
	{"service-name", "name the service answers under: /{top}/{service-name}/",
		func(c *Config, v string) error { c.ServiceName = v; return nil },
		func(c *Config) string { return c.ServiceName }, nil},
	{"piece-length", "piece length: bytes, or with a KiB or MiB suffix; a power of two of at least 16 KiB",
		func(c *Config, v string) (err error) { c.PieceLength, err = parseSize(v); return err },
		func(c *Config) string { return strconv.FormatInt(c.PieceLength, 10) }, nil},
	{"format", "torrent layout: bep47 (padding marked attr p), pkgtorrent (byte-identical to the original) or hybrid (BitTorrent v1+v2)",
		func(c *Config, v string) (err error) { c.Format, err = torrent.ParseFormat(v); return err },
		func(c *Config) string { return string(c.Format) }, nil},
	{"revalidate", "how long a cached torrent is served before its files are checked again (0s: every request)",
		func(c *Config, v string) (err error) { c.Revalidate, err = time.ParseDuration(v); return err },
		func(c *Config) string { return c.Revalidate.String() }, nil},
	{"base-url", "scheme://host[:port][/path] for web seed URLs instead of the request's",
		func(c *Config, v string) error { c.BaseURL = v; return nil },
		func(c *Config) string { return c.BaseURL }, nil},
	{"max-files", "most files in one torrent",
		func(c *Config, v string) (err error) { c.MaxFiles, err = strconv.Atoi(v); return err },
		func(c *Config) string { return strconv.Itoa(c.MaxFiles) }, nil},
	{name: "mirror", usage: "base URL of another mirror with the same tree, added to url-list (repeatable)",
		set:   func(c *Config, v string) error { c.Mirrors = append(c.Mirrors, v); return nil },
		get:   func(c *Config) string { return strings.Join(c.Mirrors, " ") },
		reset: func(c *Config) { c.Mirrors = nil }},
	{name: "dht-node", usage: "DHT bootstrap node host:port, put in the torrents' nodes (repeatable)",
		set:   func(c *Config, v string) error { c.DHTNodes = append(c.DHTNodes, v); return nil },
		get:   func(c *Config) string { return strings.Join(c.DHTNodes, " ") },
		reset: func(c *Config) { c.DHTNodes = nil }},
	{name: "max-walk", usage: "most folder entries one glob may read",
		set: func(c *Config, v string) (err error) { c.MaxWalk, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.MaxWalk) }},
	{name: "max-walk-time", usage: "longest time one glob may take to expand, then 503",
		set: func(c *Config, v string) (err error) { c.MaxWalkTime, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.MaxWalkTime.String() }},
	{name: "max-trackers", usage: "most trackers in a torrent: the first ones of the trackers file",
		set: func(c *Config, v string) (err error) { c.MaxTrackers, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.MaxTrackers) }},
	{name: "lock-timeout", usage: "longest wait for another request or process building the same torrent or hashing the same file, then 503 (0s: never wait)",
		set: func(c *Config, v string) (err error) { c.LockTimeout, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.LockTimeout.String() }},
	{name: "info-cache-size", usage: "most bytes the info cache takes on disk; the least recently used entries are removed past it (KiB, MiB or GiB suffix)",
		set: func(c *Config, v string) (err error) { c.InfoCacheSize, err = parseSize(v); return err },
		get: func(c *Config) string { return strconv.FormatInt(c.InfoCacheSize, 10) }},
	{name: "max-connections", usage: "most connections the standalone HTTP server holds at once; at the bound it closes the longest idle or slowest one",
		set: func(c *Config, v string) (err error) { c.MaxConnections, err = strconv.Atoi(v); return err },
		get: func(c *Config) string { return strconv.Itoa(c.MaxConnections) }},
	{name: "header-timeout", usage: "longest time a client of the standalone HTTP server may take to send a request's header",
		set: func(c *Config, v string) (err error) { c.HeaderTimeout, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.HeaderTimeout.String() }},
	{name: "body-timeout", usage: "longest time a client of the standalone HTTP server may take to send a whole request, header and body",
		set: func(c *Config, v string) (err error) { c.BodyTimeout, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.BodyTimeout.String() }},
	{name: "idle-timeout", usage: "longest time the standalone HTTP server keeps an idle connection open for a next request",
		set: func(c *Config, v string) (err error) { c.IdleTimeout, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.IdleTimeout.String() }},
	{name: "write-timeout", usage: "longest time one write of an answer (at most 64 KiB) to a client of the standalone HTTP server may take",
		set: func(c *Config, v string) (err error) { c.WriteTimeout, err = time.ParseDuration(v); return err },
		get: func(c *Config) string { return c.WriteTimeout.String() }},
	{name: "max-header-bytes", usage: "largest request header the standalone HTTP server reads: bytes, or with a KiB suffix",
		set: func(c *Config, v string) error {
			n, err := parseSize(v)
			c.MaxHeaderBytes = int(n)
			return err
		},
		get: func(c *Config) string { return strconv.Itoa(c.MaxHeaderBytes) }},
	{"http", "serve standalone HTTP on this address: the files under -root and the service",
		func(c *Config, v string) error { c.HTTP = v; return nil },
		func(c *Config) string { return c.HTTP }, nil},
	{"fcgi", "serve FastCGI on host:port or unix:/path",
		func(c *Config, v string) error { c.FCGI = v; return nil },
		func(c *Config) string { return c.FCGI }, nil},
	{"log-level", "debug, info, warn or error",
		func(c *Config, v string) error { c.LogLevel = v; return nil },
		func(c *Config) string { return c.LogLevel }, nil},
}

type flagValue struct {
	c *Config
	s *setting
	// given records the repeatable settings given as flags in this parse:
	// the first one replaces what the file set, the next ones append.
	given map[string]bool
}

func (f flagValue) String() string {
	if f.c == nil {
		return ""
	}
	return f.s.get(f.c)
}
func (f flagValue) Set(v string) error {
	if f.s.reset != nil && !f.given[f.s.name] {
		f.s.reset(f.c)
		f.given[f.s.name] = true
	}
	return f.s.set(f.c, v)
}

// ErrHelp is returned by Load when -h or -help was given.
var ErrHelp = flag.ErrHelp

// Command describes a program that takes the settings: the service
// itself, or one of its subcommands (warm, gc), which take the same
// settings so that they work on exactly the caches the service uses.
type Command struct {
	// Usage is the first line of the -h text, after "Usage: ".
	Usage string
	// Doc, when set, is printed under the usage line.
	Doc string
	// Flags registers the command's own flags, besides the settings.
	Flags func(fs *flag.FlagSet)
	// Args reports whether the command takes arguments after the flags;
	// without it, any argument is an error.
	Args bool
}

// service is the command of the service itself.
var service = Command{Usage: "pkgtorrent-service [-config FILE] [-setting value ...]"}

// Load builds the configuration from the defaults, the file named by
// -config (if any) and the flags in args, then validates it. Usage text
// for -h goes to usage.
func Load(args []string, usage io.Writer) (Config, error) {
	c, _, err := LoadCommand(service, args, usage)
	return c, err
}

// LoadCommand is Load for a command with its own flags and arguments: it
// parses cmd's flags together with the settings, and returns the
// arguments left after the flags. -h prints cmd's usage, its own flags,
// then the settings.
func LoadCommand(cmd Command, args []string, usage io.Writer) (Config, []string, error) {
	c := Default()
	fs := flag.NewFlagSet("pkgtorrent-service", flag.ContinueOnError)
	// Errors are returned as one line; the full usage only for -h.
	fs.SetOutput(io.Discard)
	// own holds the command's flags and sfs the settings, apart, for the
	// -h text; fs parses them all. Registering them copies each flag's
	// default text before anything is parsed.
	own := flag.NewFlagSet("own", flag.ContinueOnError)
	if cmd.Flags != nil {
		cmd.Flags(own)
	}
	sfs := flag.NewFlagSet("settings", flag.ContinueOnError)
	configFile := sfs.String("config", "", "read settings from this file (key = value lines, # comments)")
	given := map[string]bool{}
	for i := range settings {
		sfs.Var(flagValue{&c, &settings[i], given}, settings[i].name, settings[i].usage)
	}
	for _, set := range []*flag.FlagSet{own, sfs} {
		set.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	// First pass: find -config and check the flags' syntax.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(usage, cmd, own, sfs)
		}
		return c, nil, err
	}
	if fs.NArg() > 0 && !cmd.Args {
		return c, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		// The file sits between the defaults and the flags: load it into
		// fresh defaults, then let the flags override it.
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

func printUsage(w io.Writer, cmd Command, own, sfs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: "+cmd.Usage)
	if cmd.Doc != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.TrimRight(cmd.Doc, "\n"))
	}
	hasOwn := false
	own.VisitAll(func(*flag.Flag) { hasOwn = true })
	switch {
	case hasOwn:
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		own.SetOutput(w)
		own.PrintDefaults()
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Settings (as for the service; flags override -config):")
	case cmd.Doc != "":
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Settings (flags override -config):")
	}
	sfs.SetOutput(w)
	sfs.PrintDefaults()
}

// Names returns the names of every setting, as used in the file and as
// flags, in the order they are documented.
func Names() []string {
	names := make([]string, 0, len(settings)+1)
	names = append(names, "config")
	for _, s := range settings {
		names = append(names, s.name)
	}
	return names
}

// DefaultValue returns the default of setting name as text, the way -h
// prints it ("1048576", "1m0s"); "" when it has none. ok is false for an
// unknown name (and for config, which has no value of its own).
func DefaultValue(name string) (value string, ok bool) {
	s := lookup(name)
	if s == nil {
		return "", false
	}
	c := Default()
	return s.get(&c), true
}

// Value reads v as setting name reads it and prints it back as
// DefaultValue does, so that "1MiB" and "1048576", or "1m" and "1m0s",
// compare equal. It checks the syntax of v only, not the whole
// configuration (Validate does that).
func Value(name, v string) (string, error) {
	s := lookup(name)
	if s == nil {
		return "", fmt.Errorf("unknown setting %q", name)
	}
	var c Config
	if err := s.set(&c, v); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s.get(&c), nil
}

// readFile applies "key = value" lines; blank lines and "#" comments are
// skipped.
func (c *Config) readFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
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
		s := lookup(key)
		if s == nil {
			return fmt.Errorf("config %s:%d: unknown setting %q", name, n, key)
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

func lookup(key string) *setting {
	for i := range settings {
		if settings[i].name == key {
			return &settings[i]
		}
	}
	return nil
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
	if c.ServiceName == "" || strings.ContainsAny(c.ServiceName, "/\\\x00") || c.ServiceName == "." || c.ServiceName == ".." {
		return fmt.Errorf("service-name: %q is not one path segment", c.ServiceName)
	}
	if c.Cache == "" {
		return errors.New("cache: empty")
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
	if c.BaseURL != "" && !isBaseURL(c.BaseURL) {
		return fmt.Errorf("base-url: %q is not an http or https URL without query", c.BaseURL)
	}
	for _, m := range c.Mirrors {
		if !isBaseURL(m) {
			return fmt.Errorf("mirror: %q is not an http or https URL without query", m)
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
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// isBaseURL reports whether s is an http or https URL with a host and
// neither query nor fragment, to which paths can be appended.
func isBaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.User == nil
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

// parseSize reads a byte count with an optional K, KiB, M, MiB, G or GiB
// suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, suf := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"k", 1 << 10}} {
		if strings.HasSuffix(s, suf.s) {
			num, mult = strings.TrimSuffix(s, suf.s), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size in bytes", s)
	}
	return n * mult, nil
}
