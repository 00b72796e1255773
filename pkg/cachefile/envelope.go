package cachefile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The envelope of the cache file formats (the piece cache's and the info
// cache's), integers big-endian:
//
//	magic     4  the format's
//	version   2
//	flags     2
//	...          the format's fields
//	crc32c    4  of every byte before it
//
// A reader trusts no field of a file until Unseal has checked it.

// HeaderSize is the size of the envelope's header: magic, version, flags.
const HeaderSize = 4 + 2 + 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendHeader appends the envelope's header to b.
func AppendHeader(b []byte, magic string, version, flags uint16) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, version)
	return binary.BigEndian.AppendUint16(b, flags)
}

// Seal appends the checksum of b, a header and the fields after it.
func Seal(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Unseal checks the envelope of the cache file b: a header and a
// checksum at least, magic and version as given, a matching checksum,
// and no flags besides known. It returns the flags and b without its
// checksum (header and fields). Its errors wrap corrupt.
func Unseal(b []byte, magic string, version, known uint16, corrupt error) (flags uint16, body []byte, err error) {
	if len(b) < HeaderSize+4 {
		return 0, nil, fmt.Errorf("%w: %d bytes is too short", corrupt, len(b))
	}
	if string(b[:4]) != magic {
		return 0, nil, fmt.Errorf("%w: bad magic %q", corrupt, b[:4])
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != version {
		return 0, nil, fmt.Errorf("%w: version %d, want %d", corrupt, v, version)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return 0, nil, fmt.Errorf("%w: checksum %08x, want %08x", corrupt, got, sum)
	}
	flags = binary.BigEndian.Uint16(b[6:])
	if flags&^known != 0 {
		return 0, nil, fmt.Errorf("%w: unknown flags %#04x", corrupt, flags)
	}
	return flags, body, nil
}
