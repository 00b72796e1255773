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

// Metainfo returns a bencoded .torrent file around an already bencoded
// info dictionary: announce (the first tracker, for clients that ignore
// announce-list), announce-list (one tracker per tier, in the order given),
// info, and url-list with one web seed (BEP 19). With no trackers, announce
// and announce-list are left out and clients download from the web seed.
func Metainfo(info []byte, trackers []string, webSeed string) []byte {
	n := len(info) + len(webSeed) + 64
	for _, t := range trackers {
		n += 2*len(t) + 16
	}
	b := make([]byte, 0, n)
	b = append(b, 'd')
	if len(trackers) > 0 {
		b = appendString(b, "announce")
		b = appendString(b, trackers[0])
		b = appendString(b, "announce-list")
		b = append(b, 'l')
		for _, t := range trackers {
			b = append(b, 'l')
			b = appendString(b, t)
			b = append(b, 'e')
		}
		b = append(b, 'e')
	}
	b = appendString(b, "info")
	b = append(b, info...)
	b = appendString(b, "url-list")
	b = append(b, 'l')
	b = appendString(b, webSeed)
	b = append(b, 'e', 'e')
	return b
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}
