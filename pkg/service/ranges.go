package service

import (
	"net/http"
	"strings"
)

// MaxRanges bounds the ranges of one Range header: a header with more is
// ignored and the whole content sent, as nginx's max_ranges does, so that
// many small ranges cannot make a multipart answer many times larger than
// the content. Clients ask for one range at a time.
const MaxRanges = 16

// unsatisfiable is a byte range that starts after the end of any content:
// http.ServeContent answers it 416 with Content-Range: bytes */{size}.
const unsatisfiable = "bytes=9223372036854775806-"

// BoundRange rewrites the Range header of r before http.ServeContent (or
// a file server built on it) answers it. A header of more than MaxRanges
// ranges is dropped. A suffix range of zero bytes ("-0") selects nothing
// (RFC 9110, 14.1.1), but ServeContent answers a header of only such
// ranges with 206 and an impossible Content-Range ("bytes 1000-999/1000"):
// such ranges are dropped, and a header left with none becomes one that
// ServeContent answers 416.
func BoundRange(r *http.Request) {
	h := r.Header.Get("Range")
	specs, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return // no Range, or a unit ServeContent refuses itself
	}
	if strings.Count(specs, ",") >= MaxRanges {
		r.Header.Del("Range")
		return
	}
	kept := make([]string, 0, strings.Count(specs, ",")+1)
	empty := false
	for spec := range strings.SplitSeq(specs, ",") {
		spec = strings.TrimSpace(spec)
		if digits, ok := strings.CutPrefix(spec, "-"); ok && digits != "" && strings.Trim(digits, "0") == "" {
			empty = true
			continue
		}
		kept = append(kept, spec)
	}
	switch {
	case !empty:
	case len(kept) == 0:
		r.Header.Set("Range", unsatisfiable)
	default:
		r.Header.Set("Range", "bytes="+strings.Join(kept, ","))
	}
}
