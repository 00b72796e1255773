package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

const (
	// RepoPath is the dnf repository's folder under nginx's root.
	RepoPath = "repo/el9/x86_64"
	// Packages is the number of packages of the tests' repository.
	Packages   = 30
	seed       = 12 // of the payloads: the same sizes in every run
	minPayload = 1 << 20
	maxPayload = 8 << 20
)

var repoWhat = fmt.Sprintf("%d RPMs and their repository", Packages)

// Pkg is one package of the test repository.
type Pkg struct {
	Name   string // package name
	File   string // file name under Packages/
	Size   int64  // of the .rpm
	SHA256 string // of the .rpm, as built
}

// Repo is the test repository: Packages noarch RPMs with
// incompressible payloads, and createrepo_c's metadata.
type Repo struct {
	Root  string // nginx's document root
	Pkgs  []Pkg
	Total int64 // bytes of all .rpm files
}

// Names returns the package names, as dnf install takes them.
func (r *Repo) Names() []string {
	var n []string
	for _, p := range r.Pkgs {
		n = append(n, p.Name)
	}
	return n
}

// URLPath returns the URL path of a package file.
func (r *Repo) URLPath(p Pkg) string {
	return "/" + RepoPath + "/Packages/" + p.File
}

// RepoSpec says what a test repository holds: packages named
// prefix01, prefix02... with payloads of the given sizes, random bytes
// from seed (the same in every run, so the same figures).
type RepoSpec struct {
	Prefix string
	Seed   uint64
	Sizes  []int64
}

// TestSpec is the fleet tests' repository: Packages packages
// of 1 to 8 MiB.
func TestSpec() RepoSpec {
	rng := mrand.New(mrand.NewPCG(seed, seed))
	s := RepoSpec{Prefix: "fleet-pkg", Seed: seed}
	for range Packages {
		s.Sizes = append(s.Sizes, minPayload+rng.Int64N(maxPayload-minPayload+1))
	}
	return s
}

// repos are the repositories built in this test process, by name.
var repos struct {
	sync.Mutex
	built map[string]*Repo
}

// Repository builds the fleet tests' repository once per test process.
func Repository(t testing.TB) *Repo {
	t.Helper()
	return BuildRepository(t, repoWhat, TestSpec())
}

// BuildRepository builds the repository of spec once per test process,
// known in messages (and to tell it from others) by what.
func BuildRepository(t testing.TB, what string, spec RepoSpec) *Repo {
	t.Helper()
	e2e.Once(t, what, repoMaker(t, what, spec))
	repos.Lock()
	defer repos.Unlock()
	return repos.built[what]
}

// repoMaker returns what builds the repository of spec, for e2e.Make.
func repoMaker(t testing.TB, what string, spec RepoSpec) func() (string, error) {
	t.Helper()
	rpmbuild := e2e.Need(t, "rpmbuild")
	createrepo := e2e.Need(t, "createrepo_c")
	return func() (string, error) {
		r, err := buildRepo(rpmbuild, createrepo, spec)
		if r == nil {
			return "", err
		}
		repos.Lock()
		defer repos.Unlock()
		if repos.built == nil {
			repos.built = map[string]*Repo{}
		}
		repos.built[what] = r
		return r.Root, err
	}
}

func buildRepo(rpmbuild, createrepo string, spec RepoSpec) (*Repo, error) {
	top, err := e2e.TempDir("pkgtorrent-fleet-repo-")
	if err != nil {
		return nil, err
	}
	build := filepath.Join(top, "build")
	src := filepath.Join(build, "SOURCES")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	// Deterministic payloads: the same sizes, so the same figures, in
	// every run; random bytes, so that nothing compresses them.
	chacha := mrand.NewChaCha8([32]byte{byte(spec.Seed)})
	var specText strings.Builder
	specText.WriteString(`Name: pkgtorrent-fleet
Version: 1.0
Release: 1
Summary: Packages of pkgtorrent-agent's fleet test
License: MIT
BuildArch: noarch
%global debug_package %{nil}
%global __os_install_post %{nil}
%description
Packages of pkgtorrent-agent's fleet test: each installs one file of random bytes.
%prep
%build
%install
mkdir -p %{buildroot}/opt/pkgtorrent-fleet
cp -p %{_sourcedir}/*.bin %{buildroot}/opt/pkgtorrent-fleet/
`)
	r := &Repo{Root: filepath.Join(top, "www")}
	for i, size := range spec.Sizes {
		name := fmt.Sprintf("%s%02d", spec.Prefix, i+1)
		payload := make([]byte, size)
		chacha.Read(payload)
		if err := os.WriteFile(filepath.Join(src, name+".bin"), payload, 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&specText, "%%package -n %[1]s\nSummary: fleet test package %[1]s\n%%description -n %[1]s\n%[2]d random bytes.\n%%files -n %[1]s\n/opt/pkgtorrent-fleet/%[1]s.bin\n",
			name, size)
		r.Pkgs = append(r.Pkgs, Pkg{Name: name, File: name + "-1.0-1.noarch.rpm"})
	}
	specFile := filepath.Join(build, "fleet.spec")
	if err := os.WriteFile(specFile, []byte(specText.String()), 0o644); err != nil {
		return nil, err
	}
	repoDir := filepath.Join(r.Root, filepath.FromSlash(RepoPath))
	pkgDir := filepath.Join(repoDir, "Packages")
	cmd := exec.Command(rpmbuild, "-bb", "--quiet",
		"--define", "_topdir "+build,
		"--define", "_sourcedir "+src,
		"--define", "_rpmdir "+pkgDir,
		"--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
		// Stored, not compressed: the payload keeps its size.
		"--define", "_binary_payload w0.ufdio",
		specFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if err := os.RemoveAll(build); err != nil {
		return nil, err
	}
	if out, err := exec.Command(createrepo, "--quiet", repoDir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("createrepo_c %s: %w\n%s", repoDir, err, out)
	}
	for i := range r.Pkgs {
		p := &r.Pkgs[i]
		sum, size, err := FileSHA256(filepath.Join(pkgDir, p.File))
		if err != nil {
			return nil, fmt.Errorf("rpmbuild did not make the expected file: %w", err)
		}
		p.SHA256, p.Size = sum, size
		r.Total += size
	}
	// nginx runs as www-data when the tests run as root.
	err = filepath.WalkDir(r.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	})
	return r, err
}

// FileSHA256 returns a file's sha256 (hex) and size.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
