package repos

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// File is a .repo file of a folder and what Rewrite made of it, or why
// it could not be read or parsed (Err).
type File struct {
	// Name is the folder joined with the file's name.
	Name   string
	Result *Result
	Err    error
}

// RewriteDir rewrites for base (see AgentBase), with lanes agent URLs
// per mirror (see Lanes), each .repo file of dir, in name order. It fails only when dir cannot be read.
func RewriteDir(dir, base string, lanes int) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".repo") {
			continue
		}
		f := File{Name: filepath.Join(dir, e.Name())}
		src, err := os.ReadFile(f.Name)
		if err == nil {
			f.Result, err = rewrite(f.Name, src, base, lanes)
			if err != nil {
				err = fmt.Errorf("%s: %w; left as it is", f.Name, err)
			}
		}
		f.Err = err
		files = append(files, f)
	}
	return files, nil
}

// AllowedMirrors are the mirrors the agent's allow-list makes of the
// baseurls of files (see Mirror), as scheme://host/path, in order, but
// for those under another one, which is allowed with it.
func AllowedMirrors(files []File) []string {
	var mirrors []string
	for _, f := range files {
		if f.Err != nil {
			continue
		}
		for _, rp := range f.Result.Repos {
			for _, u := range rp.Mirrors {
				m, ok := Mirror(u)
				if b := m.Scheme + "://" + m.Host + m.Path; ok && !slices.Contains(mirrors, b) {
					mirrors = append(mirrors, b)
				}
			}
		}
	}
	return slices.DeleteFunc(mirrors, func(m string) bool {
		return slices.ContainsFunc(mirrors, func(o string) bool { return o != m && strings.HasPrefix(m, o) })
	})
}

// WriteFile replaces the file name (through a symbolic link, its target)
// with data: a temporary file in the same folder, with the same mode and
// owner, renamed over it. Its name does not end in .repo, so that dnf
// never reads it half-written.
func WriteFile(name string, data []byte) (err error) {
	if p, err := filepath.EvalSymlinks(name); err == nil {
		name = p
	}
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+"-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("keeping the owner of %s: %w", name, err)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// rhsmHeader is a line of the header subscription-manager writes at the
// top of redhat.repo (YumRepoFile.REPOFILE_HEADER in its repofile.py), in
// every version since repo-override came.
const rhsmHeader = "Managed by (rhsm) subscription-manager"

// owner is the tool that writes the repo file name (its lines ls) over:
// subscription-manager for its redhat.repo, known by its name or by its
// header (the comments before the first other line); "" for none.
func owner(name string, ls []line) string {
	if filepath.Base(name) == "redhat.repo" {
		return "subscription-manager"
	}
	for i, l := range ls {
		t := strings.TrimSpace(l.text)
		if i == 0 {
			t = strings.TrimPrefix(t, "\ufeff")
		}
		if t == "" {
			continue
		}
		if t[0] != '#' && t[0] != ';' {
			break
		}
		if strings.Contains(t, rhsmHeader) {
			return "subscription-manager"
		}
	}
	return ""
}
