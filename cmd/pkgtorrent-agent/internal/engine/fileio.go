package engine

import (
	"os"
	"syscall"
)

// fileIOEnv selects the file I/O of the engine's file storage. It is read
// once, when the engine's storage package is initialized, before any
// code of the agent runs.
const fileIOEnv = "TORRENT_STORAGE_DEFAULT_FILE_IO"

// ExecWithFileIO makes the engine's file storage use pread and pwrite
// instead of its default, memory-mapped files: a write into a mapped
// sparse file on a full disk, or a read of a mapped file truncated by
// someone else, is a SIGBUS that kills the whole process, where pwrite
// returns ENOSPC, which fails the one download (it then streams from the
// mirror). Since the engine reads the setting at initialization, the
// process runs itself again with it set; it returns only when that is not
// needed, or when the exec failed (the error).
func ExecWithFileIO() error {
	if os.Getenv(fileIOEnv) == "classic" {
		return nil
	}
	if err := os.Setenv(fileIOEnv, "classic"); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}
