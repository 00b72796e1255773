// Package failpoint marks the moments where the crash and fault tests stop
// or disturb the service: in the middle of hashing a file, in the middle
// of writing a cache file. A failpoint does nothing unless a test enabled
// it; the check is one atomic load.
//
// In-process tests call Enable. The crash tests build the binary with
// -tags failpoint, which lets the environment enable one (see env.go).
package failpoint

import (
	"sync"
	"sync/atomic"
)

// The failpoints. arg is what Hit passes along with the name.
const (
	// HashHalf is hit once per hashing of a file, when half of it has
	// been read; arg is the file's path relative to the document root.
	HashHalf = "hash-half"
	// Hashed is hit after a file was hashed, before its size and mtime are
	// checked again; arg is its relative path.
	Hashed = "hashed"
	// WriteHalf is hit when half of a cache file's bytes are in its
	// temporary file; arg is the cache file's name.
	WriteHalf = "write-half"
	// BeforeRename is hit when a cache file's temporary file is complete
	// and closed, just before it is renamed into place; arg is the cache
	// file's name.
	BeforeRename = "before-rename"
)

var (
	enabled atomic.Bool
	mu      sync.Mutex
	actions = map[string]func(arg string){}
)

// Enable makes Hit(name, arg) call action, until the returned function
// is called.
func Enable(name string, action func(arg string)) (disable func()) {
	mu.Lock()
	defer mu.Unlock()
	actions[name] = action
	enabled.Store(true)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		delete(actions, name)
		enabled.Store(len(actions) > 0)
	}
}

// Enabled reports whether any failpoint is enabled, for callers that
// would do extra work to reach one.
func Enabled() bool { return enabled.Load() }

// Hit runs the action enabled for name, if any.
func Hit(name, arg string) {
	if !enabled.Load() {
		return
	}
	mu.Lock()
	action := actions[name]
	mu.Unlock()
	if action != nil {
		action(arg)
	}
}
