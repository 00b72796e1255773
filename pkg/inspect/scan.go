package inspect

import "fmt"

// maxDepth bounds how deeply lists and dictionaries may nest: a torrent
// needs four levels (announce-list, files, path; v2 file trees more), and
// a decoder that recurses must not be handed millions.
const maxDepth = 64

// rawInfo checks that b is exactly one well-formed bencoded dictionary,
// nested at most maxDepth deep, and returns the bytes of its "info" value
// as they appear in b: the info hash is computed over them, not over a
// re-encoding.
func rawInfo(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != 'd' {
		return nil, fmt.Errorf("%w: does not start with a dictionary", ErrMalformed)
	}
	s := scanner{b: b}
	s.p = 1
	var info []byte
	for s.err == nil && s.p < len(b) && b[s.p] != 'e' {
		key := s.str()
		start := s.p
		s.value(1)
		if s.err == nil && string(key) == "info" {
			info = b[start:s.p]
		}
	}
	if s.err == nil && s.p >= len(b) {
		s.fail("unterminated dictionary")
	}
	if s.err != nil {
		return nil, s.err
	}
	if s.p+1 != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the end", ErrMalformed, len(b)-s.p-1)
	}
	if info == nil || info[0] != 'd' {
		return nil, fmt.Errorf("%w: no info dictionary", ErrMalformed)
	}
	return info, nil
}

type scanner struct {
	b   []byte
	p   int
	err error
}

func (s *scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: at byte %d: %s", ErrMalformed, s.p, fmt.Sprintf(format, args...))
	}
}

// value skips one value at depth.
func (s *scanner) value(depth int) {
	if s.err != nil {
		return
	}
	if depth > maxDepth {
		s.fail("nested more than %d deep", maxDepth)
		return
	}
	if s.p >= len(s.b) {
		s.fail("truncated")
		return
	}
	switch c := s.b[s.p]; {
	case c == 'i':
		s.p++
		start := s.p
		for s.p < len(s.b) && s.b[s.p] != 'e' {
			if c := s.b[s.p]; (c < '0' || c > '9') && !(c == '-' && s.p == start) {
				s.fail("bad integer")
				return
			}
			s.p++
		}
		if s.p >= len(s.b) || s.p == start {
			s.fail("bad integer")
			return
		}
		s.p++
	case c == 'l':
		s.p++
		for s.err == nil && s.p < len(s.b) && s.b[s.p] != 'e' {
			s.value(depth + 1)
		}
		s.end()
	case c == 'd':
		s.p++
		for s.err == nil && s.p < len(s.b) && s.b[s.p] != 'e' {
			s.str()
			s.value(depth + 1)
		}
		s.end()
	case c >= '0' && c <= '9':
		s.str()
	default:
		s.fail("unexpected %q", c)
	}
}

func (s *scanner) end() {
	if s.err != nil {
		return
	}
	if s.p >= len(s.b) {
		s.fail("truncated")
		return
	}
	s.p++
}

// str reads one string and returns it (not a copy).
func (s *scanner) str() []byte {
	if s.err != nil {
		return nil
	}
	n := 0
	start := s.p
	for s.p < len(s.b) && s.b[s.p] >= '0' && s.b[s.p] <= '9' {
		if n > len(s.b) {
			s.fail("string length too large")
			return nil
		}
		n = n*10 + int(s.b[s.p]-'0')
		s.p++
	}
	if s.p == start || s.p >= len(s.b) || s.b[s.p] != ':' {
		s.fail("bad string")
		return nil
	}
	s.p++
	if n > len(s.b)-s.p {
		s.fail("string of %d bytes runs past the end", n)
		return nil
	}
	v := s.b[s.p : s.p+n]
	s.p += n
	return v
}
