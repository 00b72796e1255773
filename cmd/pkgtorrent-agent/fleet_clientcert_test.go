package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/fleet"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestFleetClientCert is a mirror that wants a client certificate: nginx
// with ssl_verify_client (optional, then 403 without a valid one) on its
// https port, and dnf hosts whose repo has sslclientcert, sslclientkey and
// sslcacert. An agent that reads that repo file presents the
// certificate: at least 95 % of the package bytes come through it, which
// fetched them over https from nginx (200s in nginx's log). An agent
// without the repo file (the mirror allowed by its allow setting alone)
// gets 403 from nginx, and dnf takes every package from the mirror itself.
func TestFleetClientCert(t *testing.T) {
	fleetLong(t, true)
	dnf := e2e.Need(t, "dnf")
	repo := fleet.Repository(t)
	trackerPort := e2e.Port(t)
	m := fleet.StartCertMirror(t, repo, []string{e2e.Announce(trackerPort)})
	e2e.StartOpentracker(t, e2e.Node{}, trackerPort, m.InfoHashes(t, m.Base))
	mirrorURL := m.RepoURL(m.TLSBase)

	// nginx refuses a client without the certificate.
	pem, err := os.ReadFile(m.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := plain.Get(mirrorURL + "repodata/repomd.xml"); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("nginx without a client certificate: %v, %v; want 403", resp, err)
	} else {
		resp.Body.Close()
	}

	tlsOpts := []string{"sslcacert=" + m.CertFile, "sslclientcert=" + m.ClientCerts.CertFile, "sslclientkey=" + m.ClientCerts.KeyFile}
	// install runs dnf on a new host whose repo lists agent's URL of the
	// mirror, then the mirror, with the certificate; it returns what the
	// mirror's log shows meanwhile.
	install := func(name, agent string) (fleet.OriginBytes, []e2e.LogLine) {
		t.Helper()
		h := fleet.NewHost(t, name)
		h.RepoFile(t, []string{m.AgentRepoURL(agent, m.TLSBase), mirrorURL}, tlsOpts...)
		off := m.LogOffset(t)
		if _, err := h.Install(t.Context(), dnf, repo.Names()); err != nil {
			t.Fatalf("%v\n%s", err, e2e.Tail(h.Log, 3000))
		}
		h.CheckDownloads(t, repo)
		return m.OriginBytes(t, off), m.AccessLogLines(t, off)
	}
	// fromAgent counts the https requests that did not come from dnf, by
	// status.
	fromAgent := func(lines []e2e.LogLine) map[int]int {
		n := map[int]int{}
		for _, l := range lines {
			if l.Scheme == "https" && !fleet.FromDNF(l) {
				n[l.Status]++
			}
		}
		return n
	}

	// The agent reads the repo file (its repos-dir), with the mirror and
	// the certificate, before it starts.
	reposDir := t.TempDir()
	e2e.WriteFile(t, filepath.Join(reposDir, "fleet.repo"),
		"[fleet]\nbaseurl="+mirrorURL+"\ngpgcheck=0\n"+strings.Join(tlsOpts, "\n")+"\n")
	a := fleet.StartAgent(t, fleet.AgentBinary(t, true), "cert-agent", "", nil, "-repos-dir", reposDir)
	o, lines := install("with-cert", a.Base)
	s := a.Sources(t)
	through := 1 - float64(o.DNF)/float64(repo.Total)
	byStatus := fromAgent(lines)
	t.Logf("with the certificate: %.1f%% of the package bytes through the agent; the agent's https requests by status %v; %v",
		100*through, byStatus, s)
	if through < 0.95 {
		t.Errorf("%.1f%% of the package bytes came through the agent (%d of %d went straight to dnf), want at least 95%%", 100*through, o.DNF, repo.Total)
	}
	if byStatus[http.StatusOK]+byStatus[http.StatusPartialContent] == 0 || byStatus[http.StatusForbidden] > 0 || s.Origin == 0 {
		t.Errorf("the agent's https requests to nginx by status %v, origin bytes %v: want 200s or 206s and no 403", byStatus, s.Origin)
	}

	// Without the certificate: allowed, trusting nginx, but no repo file.
	b := fleet.StartAgent(t, fleet.AgentBinary(t, true), "no-cert-agent", "", []string{m.TLSBase + "/"}, "-ca-file", m.CertFile)
	o, lines = install("without-cert", b.Base)
	byStatus = fromAgent(lines)
	t.Logf("without the certificate: dnf took %s from the mirror itself; the agent's https requests by status %v", fleet.MiB(o.DNF), byStatus)
	if byStatus[http.StatusForbidden] == 0 {
		t.Errorf("the agent without the certificate: its https requests by status %v, want 403s from nginx", byStatus)
	}
	// (The agent passes dnf's request through with dnf's User-Agent: the
	// bodies of nginx's 403s to it count as dnf's too.)
	if o.DNF < repo.Total || len(o.DNFFiles) != len(repo.Pkgs) {
		t.Errorf("without the agent's certificate dnf got %d package bytes (%d files) from the mirror, want all %d (%d)",
			o.DNF, len(o.DNFFiles), repo.Total, len(repo.Pkgs))
	}
}
