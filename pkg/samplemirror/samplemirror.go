// Package samplemirror writes a small, deterministic yum-style mirror: the
// tree that `make run` serves and that the golden tests are computed over
// (testdata/reference/mirror.py builds the identical tree independently).
//
// It covers the sizes that matter to the piece layout: 0 bytes, 1 byte,
// exactly one piece, one piece + 1, several pieces, an exact multiple of
// the piece length, and names with "+" and "~".
package samplemirror

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// File is one file of the sample mirror.
type File struct {
	Path string // relative to the mirror's root, slash-separated
	Size int64
}

// Files are the sample mirror's files.
var Files = []File{
	{"yum/el9/x86_64/Packages/empty-0-1.noarch.rpm", 0},
	{"yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm", 1},
	{"yum/el9/x86_64/Packages/piece-1.0-1.x86_64.rpm", 1 << 20},
	{"yum/el9/x86_64/Packages/pieceplus-1.0-1.x86_64.rpm", 1<<20 + 1},
	{"yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm", 2621563},
	{"yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm", 3 << 20},
	{"yum/el9/x86_64/Packages/libstdc++-devel-11.4.1-2.el9.x86_64.rpm", 700000},
	{"yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm", 5000},
	{"yum/iso/boot.iso", 2097229},
	{"other/readme.txt", 100},
}

// Mtime is the modification time of every sample file.
var Mtime = time.Unix(1700000000, 0)

// Content returns the bytes of the file at path p with n bytes: the
// concatenation of SHA-256(p + ":" + i) for i = 0, 1, 2, ..., cut at n.
func Content(p string, n int64) []byte {
	b := make([]byte, 0, n+sha256.Size)
	for i := 0; int64(len(b)) < n; i++ {
		sum := sha256.Sum256([]byte(p + ":" + strconv.Itoa(i)))
		b = append(b, sum[:]...)
	}
	return b[:n]
}

// Create writes the sample mirror under dir.
func Create(dir string) error {
	for _, f := range Files {
		name := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return fmt.Errorf("sample mirror: %w", err)
		}
		if err := os.WriteFile(name, Content(f.Path, f.Size), 0o644); err != nil {
			return fmt.Errorf("sample mirror: %w", err)
		}
		if err := os.Chtimes(name, Mtime, Mtime); err != nil {
			return fmt.Errorf("sample mirror: %w", err)
		}
	}
	return nil
}
