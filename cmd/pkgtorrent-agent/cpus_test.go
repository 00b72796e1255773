package main

import (
	"regexp"
	"testing"
)

// TestCPUs: the cpus setting is the process's GOMAXPROCS, as the Go
// runtime reports it in /metrics (go_sched_gomaxprocs_threads), over a
// GOMAXPROCS in the environment; 0 leaves the environment's.
func TestCPUs(t *testing.T) {
	gomaxprocs := regexp.MustCompile(`(?m)^go_sched_gomaxprocs_threads (\d+)$`)
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"Default", nil, "1"},
		{"Two", []string{"-cpus", "2"}, "2"},
		{"GoChooses", []string{"-cpus", "0"}, "3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := startShippedEnv(t, []string{"GOMAXPROCS=3"}, c.flags...)
			resp, body := httpDo(t, "GET", a.base+"/metrics")
			if resp.StatusCode != 200 {
				t.Fatalf("GET /metrics: %s", resp.Status)
			}
			m := gomaxprocs.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no go_sched_gomaxprocs_threads in /metrics")
			}
			if m[1] != c.want {
				t.Errorf("GOMAXPROCS %s, want %s", m[1], c.want)
			}
		})
	}
}
