package torrent

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strconv"
)

// OrderTrackers returns the announce URLs ordered by SHA-1 of (URL + info
// hash in lower-case hex), as the original service did: each torrent puts
// a different tracker first, so first announces spread over all of them.
// Duplicates are dropped.
func OrderTrackers(trackers []string, infoHash [sha1.Size]byte) []string {
	hexHash := hex.EncodeToString(infoHash[:])
	type keyed struct {
		key [sha1.Size]byte
		url string
	}
	ks := make([]keyed, 0, len(trackers))
	for _, t := range trackers {
		ks = append(ks, keyed{sha1.Sum([]byte(t + hexHash)), t})
	}
	slices.SortFunc(ks, func(a, b keyed) int { return slices.Compare(a.key[:], b.key[:]) })
	out := make([]string, 0, len(ks))
	for i, k := range ks {
		if i > 0 && k.key == ks[i-1].key {
			continue
		}
		out = append(out, k.url)
	}
	return out
}

// Node is a DHT bootstrap node (BEP 5): a host name or address and a port.
type Node struct {
	Host string
	Port int
}

// Extras are the keys of a .torrent outside info. None of them changes the
// info hash.
type Extras struct {
	// Trackers are the announce URLs, in order: one per tier.
	Trackers []string
	// WebSeeds are the url-list entries (BEP 19), in order.
	WebSeeds []string
	// Nodes are the DHT bootstrap nodes (BEP 5).
	Nodes []Node
	// PieceLayers is the bencoded "piece layers" dictionary of a v2 or
	// hybrid torrent (BEP 52); nil for a v1 torrent.
	PieceLayers []byte
}

// Metainfo returns a bencoded .torrent file around an already bencoded
// info dictionary: announce (the first tracker, for clients that ignore
// announce-list), announce-list (one tracker per tier, in the order given),
// info, nodes, piece layers and url-list. Empty ones are left out; with no
// trackers, clients download from the web seeds.
func Metainfo(info []byte, x Extras) []byte {
	n := len(info) + len(x.PieceLayers) + 64
	for _, t := range x.Trackers {
		n += 2*len(t) + 16
	}
	for _, s := range x.WebSeeds {
		n += len(s) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, 'd')
	if len(x.Trackers) > 0 {
		b = appendString(b, "announce")
		b = appendString(b, x.Trackers[0])
		b = appendString(b, "announce-list")
		b = append(b, 'l')
		for _, t := range x.Trackers {
			b = append(b, 'l')
			b = appendString(b, t)
			b = append(b, 'e')
		}
		b = append(b, 'e')
	}
	b = appendString(b, "info")
	b = append(b, info...)
	if len(x.Nodes) > 0 {
		b = appendString(b, "nodes")
		b = append(b, 'l')
		for _, nd := range x.Nodes {
			b = appendValue(b, []any{nd.Host, nd.Port})
		}
		b = append(b, 'e')
	}
	if len(x.PieceLayers) > 0 {
		b = appendString(b, "piece layers")
		b = append(b, x.PieceLayers...)
	}
	if len(x.WebSeeds) > 0 {
		b = appendString(b, "url-list")
		b = append(b, 'l')
		for _, s := range x.WebSeeds {
			b = appendString(b, s)
		}
		b = append(b, 'e')
	}
	return append(b, 'e')
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}
