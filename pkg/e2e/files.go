package e2e

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// WebUser is the unprivileged user the web servers run as when the tests
// run as root (Apache refuses to serve as root); nil otherwise, and the
// servers then run as the current user. As root, it fails the test unless
// the user can reach the temporary folder.
func WebUser(t testing.TB) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("www-data")
	if err != nil {
		t.Fatalf("running as root, the web servers need the user www-data: %v", err)
	}
	for d := filepath.Clean(os.TempDir()); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("running as root, the web servers run as www-data and must reach the test's files under %s, but %s is not searchable by others: set TMPDIR to a folder they can reach, such as /tmp", os.TempDir(), d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return u
}

// Share makes dir and the folders above it, up to the temporary folder,
// readable and traversable by the web servers' user.
func Share(t testing.TB, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir()) + string(filepath.Separator)
	for d := filepath.Clean(dir); strings.HasPrefix(d, tmp); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// SharedDir makes the folder name under a new temporary folder of the
// test, shared as Share does, and returns it.
func SharedDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	Share(t, dir)
	return dir
}

// Writable creates dir (and parents) and, when the tests run as root,
// gives it to the web servers' user, who must write into it.
func Writable(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if u := WebUser(t); u != nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// WriteFile writes text to path, mode 0644.
func WriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Replace returns text with each old string replaced by its new one,
// failing the test when an old string is not in text: the shipped
// configuration under test must still contain what the test substitutes.
func Replace(t testing.TB, file, text string, oldnew ...string) string {
	t.Helper()
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(text, oldnew[i]) {
			t.Fatalf("%s no longer contains %q, which the test substitutes", file, oldnew[i])
		}
		text = strings.ReplaceAll(text, oldnew[i], oldnew[i+1])
	}
	return text
}

// Size returns a file's size, 0 when it does not exist: the offset after
// which a log's lines are new.
func Size(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// MountTmpfs mounts a tmpfs of the given size (as mount's size= takes
// it) at a new folder and unmounts it when the test ends. It needs root,
// or CAP_SYS_ADMIN, which `make test` has.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%s tmpfs %s: %v (the disk fault tests need root, or CAP_SYS_ADMIN)", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// Fill writes a file named filler into dir until dir's file system is
// full (ENOSPC; at most 1000 writes of 4 KiB) and returns the file's
// path: removing it gives the space back.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 1000 {
		if _, err := f.Write(make([]byte, 4096)); errors.Is(err, syscall.ENOSPC) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// RemountReadOnly makes the tmpfs at dir (see MountTmpfs) read-only, for
// root too.
func RemountReadOnly(t testing.TB, dir string) {
	t.Helper()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("mount -o remount,ro %s: %v", dir, err)
	}
}
