package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeActions plays libdnf5's actions plugin in json mode, as dnf5 5.4.6
// answers (TestFleetDNF5 runs the real one): it answers "get conf" from
// conf (a key may be a glob such as "*.baseurl"), "get trans_packages"
// with trans, and "log", and records every request. Like the real one, it
// writes each reply's newline apart from the reply, here as late as it
// can (once the action's next request or the end of its output came),
// and closes the action's input once the action's output ended.
type fakeActions struct {
	conf  map[string]string
	trans []map[string]string

	mu     sync.Mutex
	reqs   []map[string]any
	logs   []string
	broken error // a reply written after the action closed its input
}

func (f *fakeActions) reply(req map[string]any) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	op, _ := req["op"].(string)
	domain, _ := req["domain"].(string)
	args, _ := req["args"].(map[string]any)
	rep := map[string]any{"op": "reply", "requested_op": op, "domain": domain, "status": "OK"}
	switch {
	case op == "get" && domain == "conf":
		pattern, _ := args["key"].(string)
		kv := []map[string]string{}
		for k, v := range f.conf {
			if ok, _ := path.Match(pattern, k); ok {
				kv = append(kv, map[string]string{"key": k, "value": v})
			}
		}
		rep["return"] = map[string]any{"keys_val": kv}
	case op == "get" && domain == "trans_packages":
		rep["return"] = map[string]any{"trans_packages": f.trans}
	case op == "log":
		rep["domain"] = "log"
		msg, _ := args["message"].(string)
		f.logs = append(f.logs, msg)
	default:
		rep["status"], rep["message"] = "ERROR", "unknown request"
	}
	return rep
}

// run runs the subcommand with args against f, through pipes as dnf's,
// and returns its exit status, its standard error and how long it took.
func (f *fakeActions) run(t *testing.T, args ...string) (int, string, time.Duration) {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer outR.Close()
		defer inW.Close()
		dec := json.NewDecoder(outR)
		newline := false
		for {
			var req map[string]any
			err := dec.Decode(&req)
			if newline {
				if _, werr := inW.Write([]byte("\n")); werr != nil {
					f.mu.Lock()
					f.broken = werr
					f.mu.Unlock()
					return
				}
			}
			if err != nil {
				return
			}
			rep, _ := json.Marshal(f.reply(req))
			if _, err := inW.Write(rep); err != nil {
				return
			}
			newline = true
		}
	})
	var stderr strings.Builder
	start := time.Now()
	code := runDNF5Prefetch(args, inR, outW, &stderr)
	took := time.Since(start)
	// The process exits: its ends of the pipes close.
	inR.Close()
	outW.Close()
	wg.Wait()
	if f.broken != nil {
		// dnf would have died of SIGPIPE.
		t.Errorf("dnf5-prefetch exited before dnf had written its last reply: %v", f.broken)
	}
	return code, stderr.String(), took
}

func (f *fakeActions) requests(op, domain string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, r := range f.reqs {
		if r["op"] == op && (domain == "" || r["domain"] == domain) {
			out = append(out, r)
		}
	}
	return out
}

// agentServer records the bodies of the POSTs to /prefetch and answers as
// the agent does.
func agentServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/prefetch" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not a prefetch", http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"accepted": 2, "refused": []}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), bodies...) }
}

func transaction() *fakeActions {
	return &fakeActions{
		conf: map[string]string{
			"assumeno":        "0",
			"@System.baseurl": "",
			"fleet.baseurl":   "http://127.0.0.1:7881/m/http/mirror.example/el9/,http://mirror.example/el9/",
			"plain.baseurl":   "http://mirror.example/extras",
			"fedora.baseurl":  "", // metalink
		},
		trans: []map[string]string{
			{"location": "Packages/a-1.0-1.noarch.rpm", "repo_id": "fleet", "download_size": "5505"},
			{"location": "Packages/b-2.0-1.noarch.rpm", "repo_id": "plain", "download_size": "17"},
			{"location": "Packages/c-3.0-1.noarch.rpm", "repo_id": "fedora", "download_size": "9"},
		},
	}
}

// TestDNF5Prefetch: the packages coming in, with their first baseurl,
// their location and their size (no digest: the actions plugin has
// none), go to the agent in one POST; packages of repos without an http
// baseurl stay out; dnf's log says what the agent took.
func TestDNF5Prefetch(t *testing.T) {
	srv, bodies := agentServer(t)
	f := transaction()
	code, stderr, _ := f.run(t, "-agent", srv.URL+"/")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	want := `{"packages":[{"url":"http://127.0.0.1:7881/m/http/mirror.example/el9/Packages/a-1.0-1.noarch.rpm","size":5505},` +
		`{"url":"http://mirror.example/extras/Packages/b-2.0-1.noarch.rpm","size":17}]}`
	if got := bodies(); len(got) != 1 || got[0] != want {
		t.Errorf("posted %q, want one POST of %s", got, want)
	}
	trans := f.requests("get", "trans_packages")
	if len(trans) != 1 {
		t.Fatalf("asked dnf for the transaction %d times, want once", len(trans))
	}
	if b, _ := json.Marshal(trans[0]["args"]); !strings.Contains(string(b), `"filters":[{"key":"direction","value":"IN"}]`) {
		t.Errorf("asked for the transaction's packages with %s, want those coming in (direction IN)", b)
	}
	if len(f.logs) != 1 || f.logs[0] != "pkgtorrent: prefetching 2 packages, 0 refused" {
		t.Errorf("dnf's log got %q, want the agent's answer", f.logs)
	}
}

// TestDNF5PrefetchNot: with --assumeno, or without the agent, nothing is
// posted, dnf's log says why, and the exit status is 0.
func TestDNF5PrefetchNot(t *testing.T) {
	srv, bodies := agentServer(t)
	f := transaction()
	f.conf["assumeno"] = "1"
	if code, _, _ := f.run(t, "-agent", srv.URL); code != exitOK || len(bodies()) != 0 {
		t.Errorf("--assumeno: exit %d, posted %q; want 0 and nothing", code, bodies())
	}
	if len(f.logs) != 1 || !strings.Contains(f.logs[0], "--assumeno") || len(f.requests("get", "trans_packages")) != 0 {
		t.Errorf("--assumeno: dnf's log got %q, and %d requests for the transaction; want the reason and none", f.logs, len(f.requests("get", "trans_packages")))
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	f = transaction()
	code, stderr, took := f.run(t, "-agent", down.URL)
	if code != exitOK || stderr != "" || took > 2*time.Second {
		t.Errorf("agent down: exit %d, stderr %q after %v; want 0, nothing, at once", code, stderr, took)
	}
	if len(f.logs) != 1 || !strings.HasPrefix(f.logs[0], "pkgtorrent: no prefetch: ") {
		t.Errorf("agent down: dnf's log got %q, want why there is no prefetch", f.logs)
	}
}

// TestDNF5PrefetchBounded: -timeout bounds the whole run, however long
// the agent holds its answer.
func TestDNF5PrefetchBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	code, stderr, took := transaction().run(t, "-agent", srv.URL, "-timeout", "300ms")
	if code != exitOK || stderr != "" || took > 2*time.Second {
		t.Errorf("exit %d, stderr %q after %v; want 0, nothing, within about 300ms", code, stderr, took)
	}
}

func TestDNF5PrefetchUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"-timeout", "0s"}, {"-nope"}} {
		if code, stderr, _ := (&fakeActions{}).run(t, args...); code != exitUsage || !strings.HasPrefix(stderr, "pkgtorrent-agent dnf5-prefetch: ") {
			t.Errorf("%q: exit %d, stderr %q; want %d and one line", args, code, stderr, exitUsage)
		}
	}
}
