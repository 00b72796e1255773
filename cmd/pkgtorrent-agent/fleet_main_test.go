package main

import (
	"os"
	"testing"
)

// TestMain removes what the fleet tests built once per test run (the
// binaries and the RPM repository) when the run ends. A TestMain of the
// agent's own tests must call fleetCleanup after m.Run the same way.
func TestMain(m *testing.M) {
	code := m.Run()
	fleetCleanup()
	os.Exit(code)
}
