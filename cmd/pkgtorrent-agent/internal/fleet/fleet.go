// Package fleet is the harness of the agent's fleet tests and benchmarks,
// over the shared harness pkg/e2e: a repository of real RPMs (rpmbuild,
// createrepo_c), nginx under the shipped configuration with the real
// pkgtorrent-service behind it, opentracker, the real agent binary, dnf
// "hosts" that each have their own installroot, cache and repo file, and
// the benchmark's simulated network of namespaces with shaped links.
//
// What it guarantees: every program runs as shipped and is stopped when
// its test ends; what is built (the repositories, the binaries) is built
// once per test process, and Prepare builds a test's parts at the same
// time; a Host's downloads are checked against the sha256 of the files
// rpmbuild made, independently of what dnf verified; a Mirror measures
// the origin's package bytes from nginx's access log.
package fleet

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// sharedHostname is set once the test said that the agents share the
// machine's host name.
var sharedHostname atomic.Bool

// Prepare builds, at the same time, what a fleet test needs and this test
// process has not built yet: the repository, the service and, when agent
// is set, the agent's plain and -race builds.
func Prepare(t testing.TB, agent bool) {
	t.Helper()
	builds := []e2e.GoBuild{e2e.Service}
	if agent {
		builds = append(builds, e2e.Agent, e2e.Agent.WithRace())
	}
	Ahead(t, builds, map[string]RepoSpec{repoWhat: TestSpec()})
	Repository(t)
	for _, b := range builds {
		e2e.GoBinary(t, b)
	}
}

// Ahead builds the Go programs and the repositories (by name) at the same
// time, those this test process has not built yet. It does not fail the
// test: e2e.GoBinary and BuildRepository, called next, do when a build
// failed.
func Ahead(t testing.TB, builds []e2e.GoBuild, repos map[string]RepoSpec) {
	t.Helper()
	var wg sync.WaitGroup
	for _, b := range builds {
		mk := b.Maker(t)
		wg.Go(func() { e2e.Make(t, b.What(), mk) })
	}
	for what, spec := range repos {
		mk := repoMaker(t, what, spec)
		wg.Go(func() { e2e.Make(t, what, mk) })
	}
	wg.Wait()
}

// ServiceBinary builds pkgtorrent-service once per test process. Not with
// -race: its own end-to-end tests run it so; here it serves.
func ServiceBinary(t testing.TB) string {
	t.Helper()
	return e2e.GoBinary(t, e2e.Service)
}

// AgentBinary builds pkgtorrent-agent once per test process, with -race
// or without. The fault tests run the -race build: a race it reports
// fails the test (see StartAgent). The tests that measure the fleet
// (origin copies, time) run the plain build, the one that ships: -race
// slows the agent several-fold, which changes what its timing policy
// (origin-after, stall) decides, and so the figures.
func AgentBinary(t testing.TB, race bool) string {
	t.Helper()
	if race {
		return e2e.GoBinary(t, e2e.Agent.WithRace())
	}
	return e2e.GoBinary(t, e2e.Agent)
}
