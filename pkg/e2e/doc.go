// Package e2e is the test harness that the service's and the agent's tests
// share: real programs run the way an operator runs them, on loopback
// ports, each stopped when its test ends. Every function takes the test's
// testing.TB and fails it with a message that says what was wanted.
//
// What each piece guarantees:
//
//   - Need returns the path of a program (or a Debian package's file) or
//     fails the test naming the Debian package that has it: the tests never
//     skip because a program is missing.
//   - Start runs a process in its own process group with stdout and stderr
//     appended to a log file; the whole group is stopped (SIGTERM, then
//     SIGKILL after 10 s) when the test ends, and gets SIGTERM if the test
//     process dies first. The log's end is shown when the test fails. Wait
//     polls for readiness and fails as soon as a process it watches exits;
//     Run runs a command to its end within a deadline, killing its group.
//   - GoBinary builds a Go program once per test process, whichever test
//     asks first; Cleanup (from TestMain) removes what was built.
//   - Port returns a loopback port free for TCP and UDP, never the same
//     twice in one test process, below the kernel's ephemeral range.
//   - StartNginx and StartApache run the web servers under the shipped
//     httpd-conf/ files, with only paths substituted (Replace fails when a
//     substituted string is gone), in front of the service over FastCGI;
//     they return once a file is served on both the HTTP and HTTPS port.
//     StartOpentracker runs opentracker with a whitelist of info hashes.
//   - Cert makes a self-signed certificate that Client trusts; MountTmpfs
//     mounts a size-limited tmpfs (root only), unmounted when the test
//     ends, that Fill fills up and RemountReadOnly makes read-only.
//   - RenderMan formats a manual page as man -l does and fails on any
//     warning or over-wide line; UnitValue reads a systemd unit's key.
//
// The package is for tests only: no binary imports it.
package e2e
