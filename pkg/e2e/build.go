package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// module is the root module's path, by which Root finds its folder.
const module = "github.com/pkgtorrent/pkgtorrent-service"

// Root returns the repository's root folder (the root module's), found
// from the working directory up, or fails the test.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if f, err := os.Open(filepath.Join(d, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			first := sc.Scan() && strings.TrimSpace(sc.Text()) == "module "+module
			f.Close()
			if first {
				return d
			}
		}
		if d == filepath.Dir(d) {
			t.Fatalf("no folder above %s holds the module %s", dir, module)
		}
	}
}

// Path returns the path of rel (slash-separated) under the repository's
// root, such as "httpd-conf/nginx-pkgtorrent-service.conf".
func Path(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(Root(t), filepath.FromSlash(rel))
}

// made holds what was made once per test process, by what it is, and the
// folders Cleanup removes.
var made struct {
	mu    sync.Mutex
	items map[string]*item
	dirs  []string
}

type item struct {
	once sync.Once
	path string
	err  error
}

func itemOf(what string) *item {
	made.mu.Lock()
	defer made.mu.Unlock()
	if made.items == nil {
		made.items = map[string]*item{}
	}
	it := made.items[what]
	if it == nil {
		it = &item{}
		made.items[what] = it
	}
	return it
}

// Make runs build once per test process for what, whichever test asks
// first, and returns its result; it logs how long making took. It does not
// fail the test, so it may run in a goroutine: Once, later, does.
func Make(t testing.TB, what string, build func() (string, error)) (string, error) {
	it := itemOf(what)
	it.once.Do(func() {
		start := time.Now()
		it.path, it.err = build()
		if it.err == nil {
			t.Logf("built %s in %v", what, time.Since(start).Round(time.Millisecond))
		}
	})
	return it.path, it.err
}

// Once is Make that fails the test when building failed.
func Once(t testing.TB, what string, build func() (string, error)) string {
	t.Helper()
	path, err := Make(t, what, build)
	if err != nil {
		t.Fatalf("building %s: %v", what, err)
	}
	return path
}

// TempDir makes a folder that lives until Cleanup, readable and
// traversable by the web servers' user.
func TempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	made.mu.Lock()
	made.dirs = append(made.dirs, dir)
	made.mu.Unlock()
	return dir, os.Chmod(dir, 0o755)
}

// Cleanup removes the folders of TempDir, and so the binaries GoBinary
// built: TestMain calls it after the tests ran.
func Cleanup() {
	made.mu.Lock()
	defer made.mu.Unlock()
	for _, d := range made.dirs {
		os.RemoveAll(d)
	}
	made.dirs = nil
}

// GoBuild is a Go program to build for the tests.
type GoBuild struct {
	Dir  string   // the module's folder, relative to the repository root
	Pkg  string   // the package, as go build takes it
	Name string   // the binary's file name
	Race bool     // built with -race
	Tags []string // build tags
}

// Service is the service binary as the web servers run it.
var Service = GoBuild{Dir: ".", Pkg: "./cmd/pkgtorrent-service", Name: "pkgtorrent-service"}

// Agent is the agent binary.
var Agent = GoBuild{Dir: "cmd/pkgtorrent-agent", Pkg: ".", Name: "pkgtorrent-agent"}

// WithRace returns b built with -race.
func (b GoBuild) WithRace() GoBuild { b.Race = true; return b }

// What names the build in messages, and tells builds apart.
func (b GoBuild) What() string {
	s := b.Name
	if b.Race {
		s += " -race"
	}
	if len(b.Tags) > 0 {
		s += " -tags " + strings.Join(b.Tags, ",")
	}
	return s
}

// Maker returns what builds b, for Make: a binary in a folder of TempDir.
func (b GoBuild) Maker(t testing.TB) func() (string, error) {
	t.Helper()
	goTool := Need(t, "go")
	dir := filepath.Join(Root(t), filepath.FromSlash(b.Dir))
	return func() (string, error) {
		tmp, err := TempDir("pkgtorrent-bin-")
		if err != nil {
			return "", err
		}
		out := filepath.Join(tmp, b.Name)
		args := []string{"build", "-o", out}
		if b.Race {
			args = append(args, "-race")
		}
		if len(b.Tags) > 0 {
			args = append(args, "-tags", strings.Join(b.Tags, ","))
		}
		cmd := exec.Command(goTool, append(args, b.Pkg)...)
		cmd.Dir = dir
		if o, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(cmd.Args[1:], " "), dir, err, o)
		}
		return out, nil
	}
}

// GoBinary builds b once per test process and returns the binary, in a
// folder that the web servers' user can read.
func GoBinary(t testing.TB, b GoBuild) string {
	t.Helper()
	return Once(t, b.What(), b.Maker(t))
}
