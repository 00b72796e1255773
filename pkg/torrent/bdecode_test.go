package torrent

import (
	"fmt"
	"strconv"
	"testing"
)

// A small strict bencode decoder for the tests, independent of the encoder
// the package uses: it rejects unsorted or duplicate dictionary keys,
// leading zeros, "-0" and trailing bytes, and remembers the raw bytes of
// every dictionary value so that tests can hash the info dictionary as it
// was written.

// bdict is a decoded dictionary.
type bdict struct {
	keys []string          // in the order written
	vals map[string]any    // decoded values
	raw  map[string][]byte // the bytes each value was decoded from
}

func bdecode(b []byte) (any, error) {
	v, n, err := bvalue(b, 0)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("bencode: %d bytes after the value", len(b)-n)
	}
	return v, nil
}

func bvalue(b []byte, p int) (any, int, error) {
	if p >= len(b) {
		return nil, p, fmt.Errorf("bencode: unexpected end at %d", p)
	}
	switch c := b[p]; {
	case c == 'i':
		end := p + 1
		for end < len(b) && b[end] != 'e' {
			end++
		}
		if end >= len(b) {
			return nil, p, fmt.Errorf("bencode: unterminated integer at %d", p)
		}
		s := string(b[p+1 : end])
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || s == "-0" || (len(s) > 1 && s[0] == '0') || (len(s) > 2 && s[:2] == "-0") {
			return nil, p, fmt.Errorf("bencode: bad integer %q at %d", s, p)
		}
		return n, end + 1, nil
	case c >= '0' && c <= '9':
		colon := p
		for colon < len(b) && b[colon] != ':' {
			colon++
		}
		if colon >= len(b) {
			return nil, p, fmt.Errorf("bencode: unterminated string length at %d", p)
		}
		s := string(b[p:colon])
		n, err := strconv.Atoi(s)
		if err != nil || (len(s) > 1 && s[0] == '0') || n > len(b)-colon-1 {
			return nil, p, fmt.Errorf("bencode: bad string length %q at %d", s, p)
		}
		return string(b[colon+1 : colon+1+n]), colon + 1 + n, nil
	case c == 'l':
		list := []any{}
		p++
		for p < len(b) && b[p] != 'e' {
			v, np, err := bvalue(b, p)
			if err != nil {
				return nil, p, err
			}
			list = append(list, v)
			p = np
		}
		if p >= len(b) {
			return nil, p, fmt.Errorf("bencode: unterminated list")
		}
		return list, p + 1, nil
	case c == 'd':
		d := &bdict{vals: map[string]any{}, raw: map[string][]byte{}}
		p++
		for p < len(b) && b[p] != 'e' {
			k, np, err := bvalue(b, p)
			if err != nil {
				return nil, p, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, p, fmt.Errorf("bencode: dictionary key at %d is not a string", p)
			}
			if len(d.keys) > 0 && d.keys[len(d.keys)-1] >= key {
				return nil, p, fmt.Errorf("bencode: key %q after %q: not sorted or repeated", key, d.keys[len(d.keys)-1])
			}
			v, vp, err := bvalue(b, np)
			if err != nil {
				return nil, p, err
			}
			d.keys = append(d.keys, key)
			d.vals[key] = v
			d.raw[key] = b[np:vp]
			p = vp
		}
		if p >= len(b) {
			return nil, p, fmt.Errorf("bencode: unterminated dictionary")
		}
		return d, p + 1, nil
	default:
		return nil, p, fmt.Errorf("bencode: unexpected byte %q at %d", c, p)
	}
}

// decodeDict decodes b, which must be one bencoded dictionary, or fails
// the test.
func decodeDict(t *testing.T, b []byte) *bdict {
	t.Helper()
	v, err := bdecode(b)
	if err != nil {
		t.Fatalf("does not decode: %v\n%.200q", err, b)
	}
	d, ok := v.(*bdict)
	if !ok {
		t.Fatalf("decodes to a %T, want a dictionary", v)
	}
	return d
}
