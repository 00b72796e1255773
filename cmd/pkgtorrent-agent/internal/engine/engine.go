// Package engine is the agent's BitTorrent engine: anacrolix/torrent
// configured for a fleet (Config), with the completion of pieces kept in
// memory only (Completion) and file storage that neither fsyncs each
// piece nor maps files (ExecWithFileIO).
package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/iplist"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// dialRate is the peers the agent dials a second, at most.
const dialRate = 500

const (
	// chunkSize is the largest block a peer may request.
	chunkSize = 16 << 10
	// peerRequestData bounds the data read for one connection's requests
	// and not yet sent.
	peerRequestData = 8 * chunkSize
	// uploadHold is the longest a peer's request for a piece only this
	// host has waits while upload-fan-out other peers are served it.
	// Shorter than the stall after which a request falls back (5 s by
	// default): a peer that was served it and passes it on releases the
	// others sooner, and one that does not delays them this long.
	uploadHold = 2 * time.Second
)

// Client is the engine's client with the agent's peer listener and
// dialer, whose connections Conns bounds.
type Client struct {
	*torrent.Client
	Conns *Conns
	ln    net.Listener
}

// NewClient starts the engine's client (Config) on the peer port of cfg.
func NewClient(cfg settings.Config, dataDir string, done *Completion, log *slog.Logger) (*Client, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.PeerHost, strconv.Itoa(cfg.PeerPort)))
	if err != nil {
		return nil, fmt.Errorf("peer port: %w", err)
	}
	cl, err := torrent.NewClient(Config(cfg, dataDir, done, log))
	if err != nil {
		ln.Close()
		return nil, err
	}
	conns := NewConns(cfg.PeerConns, cfg.PeerConnsPerAddress)
	cl.AddListener(listener{ln, conns})
	cl.AddDialer(&dialer{conns: conns})
	return &Client{Client: cl, Conns: conns, ln: ln}, nil
}

// Close stops the client, then its listener.
func (c *Client) Close() {
	c.Client.Close()
	c.ln.Close()
}

// logLevel is the least level of the engine's log lines passed on.
const logLevel = slog.LevelInfo

// Config is the engine's configuration for cfg: no DHT, no PEX, no web
// seeds, no uTP, the peer port and host, peers per torrent, upload rate
// and upload share of cfg, and each torrent's file stored as
// dataDir/{infohash}/{name}, whose completion done alone records.
func Config(cfg settings.Config, dataDir string, done *Completion, log *slog.Logger) *torrent.ClientConfig {
	tc := torrent.NewDefaultClientConfig()
	// The peer port is the agent's own listener (NewClient), so that its
	// connections are bounded before the engine handshakes them.
	tc.DisableTCP = true
	if ip, err := netip.ParseAddr(cfg.PeerHost); err == nil {
		// One address: its family only.
		tc.DisableIPv6 = ip.Is4()
		tc.DisableIPv4 = !ip.Is4()
	}
	tc.Seed = true
	// Peers come from the trackers only: a peer's PEX message would make
	// the agent dial any address it names (a port scanner of the host's
	// network), and hole-punching rides on PEX.
	tc.DisablePEX = true
	tc.NoDHT = true
	tc.NoDefaultPortForwarding = true
	tc.DisableWebtorrent = true
	// The agent fetches from the mirror itself (package agent's fill):
	// anacrolix's
	// web seed client waits up to 5 s before its first request and does
	// not hold back while peers have the pieces.
	tc.DisableWebseeds = true
	tc.DisableUTP = true
	tc.EstablishedConnsPerTorrent = cfg.PeersPerTorrent
	if len(cfg.PeerNetworks) > 0 {
		tc.IPBlocklist = outsideOf(cfg.PeerNetworks)
	}
	// prefer: either way, encrypted first; require: encrypted only; off:
	// plain only.
	tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{
		Preferred:        cfg.Encryption != "off",
		RequirePreferred: cfg.Encryption != "prefer",
	}
	// The engine dials at most 10 peers a second by default, for the
	// whole client: too few for a transaction's torrents started together
	// (a prefetch of 84 packages, 7 peers each), whose hosts would fetch
	// from the mirror meanwhile what their peers have. The agent dials
	// the fleet's hosts that its tracker names; half-open connections
	// stay bounded by the engine (25 a torrent, 100 in all).
	tc.DialRateLimiter = rate.NewLimiter(dialRate, dialRate)
	// The data read for a peer's requests and not yet sent, per
	// connection: what a peer that requests and never reads can hold.
	// The engine reads a connection's requests in the order they came
	// (third_party/torrent, PATCHED.md), so a peer may queue more than
	// this and uploads go on.
	tc.MaxAllocPeerRequestDataPerConn = peerRequestData
	if cfg.UploadRate > 0 {
		// The burst is also the largest chunk a peer may request: 16 KiB,
		// the chunk size clients use, so that a request always fits in
		// peerRequestData (without upload-rate the engine refuses larger
		// ones itself, PATCHED.md); rates under 16 KiB/s still upload.
		tc.UploadRateLimiter = rate.NewLimiter(rate.Limit(cfg.UploadRate), chunkSize)
	}
	// What one host uploads of a torrent, relative to its length: past
	// upload-share copies, a piece another peer has comes from that peer.
	tc.AllowUpload = uploadShare(cfg.UploadShare)
	// A piece only this host has goes to upload-fan-out peers at a time,
	// which pass it on, not to every peer at once at a share of its
	// upload each (third_party/torrent, PATCHED.md change 11).
	tc.UploadFanOut = cfg.UploadFanOut
	tc.UploadHold = uploadHold
	tc.ExtendedHandshakeClientVersion = clientName
	// The engine's debug lines (one per piece state change) would drown
	// the agent's own; its warnings and errors go through.
	tc.Slogger = slog.New(minLevel{log.Handler(), logLevel}).With("part", "torrent")
	tc.DefaultStorage = noFlush{storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: dataDir,
		TorrentDirMaker: func(base string, _ *metainfo.Info, ih metainfo.Hash) string {
			return filepath.Join(base, ih.HexString())
		},
		FilePathMaker: func(o storage.FilePathMakerOpts) string {
			return o.Info.BestName()
		},
		PieceCompletion: done,
		// Files keep their names while incomplete: completion lives in
		// done only, and part files would make anacrolix infer it.
		UsePartFiles: g.Some(false),
	})}
	return tc
}

// outside is the engine's block list for the peer-network setting: every
// address outside the networks (CIDR, validated by the settings). The
// engine refuses connections from blocked addresses and never dials
// them.
type outside []netip.Prefix

func outsideOf(nets []string) outside {
	var o outside
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n); err == nil {
			o = append(o, p.Masked())
		}
	}
	return o
}

func (o outside) Lookup(ip net.IP) (iplist.Range, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return iplist.Range{Description: "not an IP address"}, true
	}
	a = a.Unmap()
	for _, p := range o {
		if p.Contains(a) {
			return iplist.Range{}, false
		}
	}
	return iplist.Range{First: ip, Last: ip, Description: "outside peer-network"}, true
}

func (o outside) NumRanges() int { return len(o) }

// minLevel passes records of at least level to h.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.level}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.level}
}

// noFlush hides the file storage's Flush from the engine, which calls it
// (an fsync of the whole file) after every verified piece: completion
// lives in memory and every start hashes the store again, so the sync
// buys nothing.
type noFlush struct{ storage.ClientImplCloser }

func (s noFlush) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	t, err := s.ClientImplCloser.OpenTorrent(ctx, info, ih)
	if err != nil {
		return t, err
	}
	if p := t.Piece; p != nil {
		t.Piece = func(mp metainfo.Piece) storage.PieceImpl { return hideFlush(p(mp)) }
	}
	if p := t.PieceWithHash; p != nil {
		t.PieceWithHash = func(mp metainfo.Piece, h g.Option[[]byte]) storage.PieceImpl { return hideFlush(p(mp, h)) }
	}
	return t, nil
}

type plainPiece struct{ storage.PieceImpl }

// writerToPiece keeps io.WriterTo, through which file pieces are hashed.
type writerToPiece struct {
	storage.PieceImpl
	io.WriterTo
}

func hideFlush(p storage.PieceImpl) storage.PieceImpl {
	if w, ok := p.(io.WriterTo); ok {
		return writerToPiece{p, w}
	}
	return plainPiece{p}
}
