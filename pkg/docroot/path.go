// Package docroot resolves request paths against a web server's document
// root: it validates them, expands globs, and opens files without ever
// leaving the root, whatever the path or the symlinks on the way say.
package docroot

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sentinels that callers map to HTTP statuses.
var (
	// ErrInvalid reports a malformed path: empty, with a NUL byte (also
	// percent-encoded), an empty or "." segment, a name that is not
	// UsableName, or too long.
	ErrInvalid = errors.New("malformed path")
	// ErrOutside reports a path that leads outside the document root, or
	// tries to: an absolute path, a ".." segment (also percent-encoded,
	// once or more), a backslash, or a symlink that leaves the root.
	ErrOutside = errors.New("path is outside the document root")
	// ErrPermission reports a file or folder the service may not read.
	ErrPermission = errors.New("permission denied")
	// ErrNotFound reports a path that names no regular file.
	ErrNotFound = errors.New("no such file")
	// ErrTooMany reports a glob that matches or visits too many entries.
	ErrTooMany = errors.New("too many files")
	// ErrTooSlow reports a glob that ran past its deadline.
	ErrTooSlow = errors.New("glob took too long")
)

// MaxPathLength bounds the length of one request path, as PATH_MAX does.
const MaxPathLength = 4096

// MaxNameLength bounds one path segment, as NAME_MAX does.
const MaxNameLength = 255

// maxDecodes bounds how many rounds of percent-decoding a segment is
// checked for: a front end that decodes twice is plausible, more is not,
// but a few more rounds cost nothing.
const maxDecodes = 4

// Clean validates a slash-separated path relative to the document root
// (one leading "/" is allowed, as clients send them) and returns it
// without the leading slash. It never touches the file system.
//
// The path is already percent-decoded. A segment that decodes further to
// "..", or to something with a "/", "\\" or NUL in it, is refused as well:
// it is what a double-encoded attack looks like after one decoding, and a
// proxy or web server in front that decodes again would turn it into one.
func Clean(p string) (string, error) {
	if len(p) > MaxPathLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxPathLength)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("%w: NUL byte", ErrInvalid)
	}
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		return "", fmt.Errorf("%w: empty path", ErrInvalid)
	}
	if strings.HasPrefix(rel, "/") {
		return "", fmt.Errorf("%w: %q is an absolute path", ErrOutside, p)
	}
	if strings.IndexByte(rel, '\\') >= 0 {
		return "", fmt.Errorf("%w: %q has a backslash", ErrOutside, p)
	}
	for seg := range strings.SplitSeq(rel, "/") {
		switch seg {
		case "..":
			return "", fmt.Errorf("%w: %q", ErrOutside, p)
		case "", ".":
			return "", fmt.Errorf("%w: %q has an empty or \".\" segment", ErrInvalid, p)
		}
		if !UsableName(seg) {
			return "", fmt.Errorf("%w: %q has a control character or is not UTF-8: BitTorrent clients cannot use such a name", ErrInvalid, p)
		}
		if len(seg) > MaxNameLength {
			return "", fmt.Errorf("%w: a segment of %q is longer than %d bytes", ErrInvalid, p, MaxNameLength)
		}
		if err := checkEncoded(p, seg); err != nil {
			return "", err
		}
	}
	return rel, nil
}

// UsableName reports whether a file or folder name can go into a
// torrent: valid UTF-8 without control characters (C0, DEL or C1).
// BitTorrent clients refuse other names (aria2 refuses the whole
// multi-file torrent), and a newline would split the text that a digest
// is the SHA-1 of.
func UsableName(name string) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || 0x7f <= r && r < 0xa0 {
			return false
		}
	}
	return true
}

// CleanRelative is Clean for a path that must not start with "/", such as
// the one after single/ in a URL: a leading "/" there makes it absolute.
func CleanRelative(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %q is an absolute path", ErrOutside, p)
	}
	return Clean(p)
}

// checkEncoded decodes seg a few rounds and refuses it when a round gives
// "..", a "/", a "\\" or a NUL byte.
func checkEncoded(p, seg string) error {
	s := seg
	for range maxDecodes {
		if strings.IndexByte(s, '%') < 0 {
			return nil
		}
		u := unescape(s)
		if u == s {
			return nil // no escape: a literal "%" in a file name
		}
		s = u
		switch {
		case strings.IndexByte(s, 0) >= 0:
			return fmt.Errorf("%w: %q holds an encoded NUL byte", ErrInvalid, p)
		case s == ".." || strings.ContainsAny(s, "/\\"):
			return fmt.Errorf("%w: %q holds an encoded \"..\", \"/\" or \"\\\\\"", ErrOutside, p)
		}
	}
	return nil
}

// unescape decodes every valid %XX escape of s and keeps anything else
// as it is, as a lenient decoder in front of the service might.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// TopFolder returns the first segment of a clean relative path, and
// whether the path has more segments after it.
func TopFolder(rel string) (top string, inside bool) {
	top, _, inside = strings.Cut(rel, "/")
	return top, inside
}

// hasMeta reports whether a path segment is a glob pattern.
func hasMeta(seg string) bool { return strings.ContainsAny(seg, "*?[") }

// IsGlob reports whether pattern holds a wildcard, so that Root.Glob
// expands it rather than looking it up as a path.
func IsGlob(pattern string) bool { return hasMeta(pattern) }
