package torrent

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// refOrder sorts trackers by SHA-1(url + info hash hex) the slow, obvious
// way, dropping repeated URLs.
func refOrder(trackers []string, infoHash [sha1.Size]byte) []string {
	hexHash := hex.EncodeToString(infoHash[:])
	var uniq []string
	for _, t := range trackers {
		if !slices.Contains(uniq, t) {
			uniq = append(uniq, t)
		}
	}
	key := func(t string) []byte { s := sha1.Sum([]byte(t + hexHash)); return s[:] }
	// Insertion sort on the keys.
	for i := 1; i < len(uniq); i++ {
		for j := i; j > 0 && bytes.Compare(key(uniq[j-1]), key(uniq[j])) > 0; j-- {
			uniq[j-1], uniq[j] = uniq[j], uniq[j-1]
		}
	}
	return uniq
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestOrderTrackers(t *testing.T) {
	five := []string{
		"http://t1.example/announce",
		"http://t2.example/announce",
		"udp://t3.example:6969",
		"https://t4.example/announce",
		"udp://t5.example:1337/announce",
	}
	hashA := sha1.Sum([]byte("info A"))
	hashB := sha1.Sum([]byte("info B"))
	tests := []struct {
		name     string
		trackers []string
		hash     [sha1.Size]byte
	}{
		{"none", nil, hashA},
		{"one", five[:1], hashA},
		{"five", five, hashA},
		{"five, other info hash", five, hashB},
		{"reversed input gives the same order", reversed(five), hashA},
		{"duplicates dropped", append(slices.Clone(five), five[2], five[0], five[2]), hashA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.trackers)
			got := OrderTrackers(in, tt.hash)
			want := refOrder(tt.trackers, tt.hash)
			if !slices.Equal(got, want) {
				t.Errorf("OrderTrackers = %q, want %q", got, want)
			}
			if !slices.Equal(in, tt.trackers) {
				t.Errorf("OrderTrackers changed its input to %q, want %q", in, tt.trackers)
			}
		})
	}
}

// TestOrderTrackersSpreads checks the point of the ordering: over many
// torrents, every tracker comes first some of the time.
func TestOrderTrackersSpreads(t *testing.T) {
	trackers := []string{"http://a/announce", "http://b/announce", "udp://c:1"}
	first := map[string]int{}
	for i := range 60 {
		order := OrderTrackers(trackers, sha1.Sum(fmt.Appendf(nil, "torrent %d", i)))
		first[order[0]]++
	}
	for _, tr := range trackers {
		if first[tr] == 0 {
			t.Errorf("tracker %s came first in none of 60 torrents (firsts: %v), want each some of the time", tr, first)
		}
	}
}

func TestMetainfo(t *testing.T) {
	info := []byte("d6:lengthi5e4:name5:x.iso12:piece lengthi16384e6:pieces20:" + string(make([]byte, 20)) + "e")
	tests := []struct {
		name     string
		trackers []string
		webSeed  string
	}{
		{"no trackers", nil, "https://mirror.example/yum/iso/"},
		{"empty tracker list", []string{}, "http://mirror.example/"},
		{"one tracker", []string{"udp://t1.example:6969"}, "http://mirror.example/"},
		{"three trackers", []string{"http://t2.example/announce", "udp://t1.example:6969", "https://t3.example/a?x=1"}, "http://[::1]:8080/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Metainfo(info, Extras{Trackers: tt.trackers, WebSeeds: []string{tt.webSeed}})
			d := decodeDict(t, out)
			wantKeys := []string{"info", "url-list"}
			if len(tt.trackers) > 0 {
				wantKeys = []string{"announce", "announce-list", "info", "url-list"}
			}
			if !slices.Equal(d.keys, wantKeys) {
				t.Errorf("keys = %q, want %q", d.keys, wantKeys)
			}
			if !bytes.Equal(d.raw["info"], info) {
				t.Errorf("info = %q, want the given bytes %q", d.raw["info"], info)
			}
			seeds := asList(d.vals["url-list"])
			if len(seeds) != 1 || seeds[0] != tt.webSeed {
				t.Errorf("url-list = %q, want [%q]", seeds, tt.webSeed)
			}
			if len(tt.trackers) == 0 {
				return
			}
			checkValue(t, "announce", d.vals["announce"], tt.trackers[0])
			tiers := asList(d.vals["announce-list"])
			if len(tiers) != len(tt.trackers) {
				t.Fatalf("announce-list has %d tiers, want %d", len(tiers), len(tt.trackers))
			}
			for i, tier := range tiers {
				l := asList(tier)
				if len(l) != 1 || l[0] != tt.trackers[i] {
					t.Errorf("announce-list tier %d = %q, want [%q]", i, l, tt.trackers[i])
				}
			}
		})
	}
}

// BenchmarkMetainfo measures wrapping a cached info dictionary (the size
// of a 2000-package torrent) into a .torrent: one allocation, the body.
func BenchmarkMetainfo(b *testing.B) {
	info := []byte("d6:pieces370000:" + strings.Repeat("x", 370000) + "e")
	x := Extras{
		Trackers: []string{"udp://tracker.example.org:6969/announce", "http://tracker.example.net/announce"},
		WebSeeds: []string{"http://mirror.example.org/"},
	}
	b.SetBytes(int64(len(info)))
	b.ReportAllocs()
	for b.Loop() {
		Metainfo(info, x)
	}
}
