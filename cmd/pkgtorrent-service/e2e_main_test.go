package main

import "testing"

// TestE2E runs the service behind real nginx and Apache (mod_fcgid), and
// downloads its torrents with real BitTorrent clients (aria2, libtorrent)
// from the web servers as web seeds and from each other through a real
// tracker (opentracker). The programs come from Debian packages that
// `make deps` installs; a missing one fails the test with its package's
// name. Every server listens on 127.0.0.1 only, on ports the test picks,
// and is stopped when its subtest ends.
//
// Run them alone with: go test -race -run TestE2E ./cmd/pkgtorrent-service
func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests with real web servers and BitTorrent clients: not in -short mode")
	}
	serviceBinary(t) // build once, before the subtests time anything
	t.Run("WebServers", e2eTestWebServers)
	t.Run("NginxParams", e2eTestNginxParams)
	t.Run("NginxCache", e2eTestNginxCache)
	t.Run("BaseURL", e2eTestBaseURL)
	t.Run("Downloads", e2eTestDownloads)
	t.Run("Swarm", e2eTestSwarm)
	t.Run("SystemdSocket", e2eTestSystemdSocket)
	t.Run("DeployFiles", e2eTestDeployFiles)
}
