// Package docroot resolves request paths against a web server's document
// root: it validates them, expands globs, and opens files without ever
// leaving the root, whatever the path or the symlinks on the way say.
package docroot

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels that callers map to HTTP statuses.
var (
	// ErrInvalid reports a malformed path: empty, with a NUL byte, an
	// empty or "." segment, or too long.
	ErrInvalid = errors.New("malformed path")
	// ErrOutside reports a path that leads outside the document root,
	// by ".." segments, a backslash or a symlink.
	ErrOutside = errors.New("path is outside the document root")
	// ErrPermission reports a file or folder the service may not read.
	ErrPermission = errors.New("permission denied")
	// ErrNotFound reports a path that names no regular file.
	ErrNotFound = errors.New("no such file")
	// ErrTooMany reports a glob that matches or visits too many entries.
	ErrTooMany = errors.New("too many files")
)

// MaxPathLength bounds the length of one request path, as PATH_MAX does.
const MaxPathLength = 4096

// Clean validates a slash-separated path relative to the document root
// (one leading "/" is allowed, as clients send them) and returns it
// without the leading slash. It never touches the file system.
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
	}
	return rel, nil
}

// TopFolder returns the first segment of a clean relative path, and
// whether the path has more segments after it.
func TopFolder(rel string) (top string, inside bool) {
	top, _, inside = strings.Cut(rel, "/")
	return top, inside
}

// hasMeta reports whether a path segment is a glob pattern.
func hasMeta(seg string) bool { return strings.ContainsAny(seg, "*?[") }
