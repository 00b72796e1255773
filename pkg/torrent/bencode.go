package torrent

import (
	"fmt"
	"slices"
	"strconv"
)

// dict is a bencoded dictionary under construction; appendValue sorts its
// keys bytewise, as bencoding requires.
type dict map[string]any

// appendValue appends the bencoding of v: an int, int64, string, []byte,
// raw (already bencoded), []any or dict.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case int:
		return append(strconv.AppendInt(append(b, 'i'), int64(v), 10), 'e')
	case int64:
		return append(strconv.AppendInt(append(b, 'i'), v, 10), 'e')
	case string:
		return appendString(b, v)
	case []byte:
		return appendString(b, string(v))
	case raw:
		return append(b, v...)
	case []any:
		b = append(b, 'l')
		for _, e := range v {
			b = appendValue(b, e)
		}
		return append(b, 'e')
	case dict:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, 'd')
		for _, k := range keys {
			b = appendString(b, k)
			b = appendValue(b, v[k])
		}
		return append(b, 'e')
	}
	panic(fmt.Sprintf("torrent: cannot bencode %T", v))
}

// raw is a value that is already bencoded.
type raw []byte
