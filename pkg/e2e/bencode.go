package e2e

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// InfoHash returns the hex SHA-1 of a torrent's bencoded info dictionary,
// read independently of the code under test.
func InfoHash(torrent []byte) (string, error) {
	if len(torrent) == 0 || torrent[0] != 'd' {
		return "", errors.New("not a bencoded dictionary")
	}
	pos := 1
	for pos < len(torrent) && torrent[pos] != 'e' {
		key, next, err := bencodeString(torrent, pos)
		if err != nil {
			return "", err
		}
		end, err := bencodeSkip(torrent, next, 0)
		if err != nil {
			return "", err
		}
		if key == "info" {
			sum := sha1.Sum(torrent[next:end])
			return hex.EncodeToString(sum[:]), nil
		}
		pos = end
	}
	return "", errors.New("torrent has no info dictionary")
}

func bencodeString(b []byte, pos int) (string, int, error) {
	colon := bytes.IndexByte(b[pos:], ':')
	if colon < 0 {
		return "", 0, io.ErrUnexpectedEOF
	}
	n, err := strconv.Atoi(string(b[pos : pos+colon]))
	start := pos + colon + 1
	if err != nil || n < 0 || start+n > len(b) {
		return "", 0, fmt.Errorf("bencode string at %d: bad length", pos)
	}
	return string(b[start : start+n]), start + n, nil
}

// bencodeSkip returns the end of the bencoded value at pos.
func bencodeSkip(b []byte, pos, depth int) (int, error) {
	if pos >= len(b) || depth > 64 {
		return 0, io.ErrUnexpectedEOF
	}
	switch c := b[pos]; {
	case c == 'i':
		end := bytes.IndexByte(b[pos:], 'e')
		if end < 0 {
			return 0, io.ErrUnexpectedEOF
		}
		return pos + end + 1, nil
	case c >= '0' && c <= '9':
		_, end, err := bencodeString(b, pos)
		return end, err
	case c == 'l' || c == 'd':
		pos++
		for pos < len(b) && b[pos] != 'e' {
			end, err := bencodeSkip(b, pos, depth+1)
			if err != nil {
				return 0, err
			}
			pos = end
		}
		if pos >= len(b) {
			return 0, io.ErrUnexpectedEOF
		}
		return pos + 1, nil
	default:
		return 0, fmt.Errorf("bencode: unexpected %q at %d", c, pos)
	}
}
