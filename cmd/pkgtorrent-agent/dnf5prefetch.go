package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/agent"
)

const dnf5PrefetchUsage = `Usage: pkgtorrent-agent dnf5-prefetch [-agent URL] [-timeout 2s]

The dnf 5 plugin: libdnf5's actions plugin runs it once a transaction is
resolved, before anything is downloaded (goal_resolved, json mode; see
deploy/dnf/pkgtorrent.actions). It asks dnf for the packages coming into
the system and their repos' baseurl, and posts each package's URL (its
repo's first baseurl and its location, the URL dnf downloads first) and
size to the agent's /prefetch, so that the agent starts their torrents at
once; the agent takes their SHA-256 from the repo metadata. Nothing with
--assumeno. It takes at most -timeout in all, whatever dnf or the agent
answer, says what it did in dnf's log (debug level), and exits 0 but on
bad usage (2): it never stops a transaction.

Flags:
`

// maxDNFReplies bounds what is read of dnf's replies in all: the packages
// of the largest transactions take a few MiB.
const maxDNFReplies = 64 << 20

// maxPrefetchAnswer bounds the agent's answer that is read: a few
// counters and the refused URLs, far below it.
const maxPrefetchAnswer = 1 << 20

// runDNF5Prefetch is the dnf5-prefetch subcommand, spoken to by the
// actions plugin on stdin (its replies) and stdout (our requests).
func runDNF5Prefetch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dnf5-prefetch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	agentURL := fs.String("agent", "http://127.0.0.1:7881", "the agent's URL (its listen setting)")
	timeout := fs.Duration("timeout", 2*time.Second, "the longest it takes in all; past it dnf goes on")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, dnf5PrefetchUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return exitOK
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil && *timeout <= 0 {
		err = errors.New("-timeout must be positive")
	}
	if err != nil {
		fmt.Fprintln(stderr, "pkgtorrent-agent dnf5-prefetch:", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	in := io.LimitReader(stdin, maxDNFReplies)
	dnf := &actionsConn{dec: json.NewDecoder(in), w: stdout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		msg, err := dnf5Prefetch(ctx, dnf, strings.TrimRight(*agentURL, "/"))
		if err != nil {
			msg = "no prefetch: " + err.Error()
		}
		if ctx.Err() == nil {
			dnf.log("pkgtorrent: " + msg)
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Past the deadline the exchange is abandoned where it
		// stands: the request to the agent is cancelled, and nothing
		// more is asked of dnf.
	}
	endExchange(stdout, io.MultiReader(dnf.dec.Buffered(), in), done)
	return exitOK
}

// endExchange ends the exchange as the actions plugin expects it to end:
// end of file on our output first, then its replies read until it closes
// our input, which it does once it has read that end of file. Exiting
// before that would leave a reply unread, and dnf writing it into a
// closed pipe dies of SIGPIPE: it writes each reply's closing newline
// apart from the reply, after the reply may already have been decoded.
// The exchange's goroutine is waited for (done) before in is read here:
// once our output is closed, it asks nothing more and its call to the
// agent is cancelled, so it ends as soon as dnf has answered what it was
// asked.
func endExchange(out io.Writer, in io.Reader, done <-chan struct{}) {
	if c, ok := out.(io.Closer); ok {
		c.Close()
	}
	<-done
	io.Copy(io.Discard, in)
}

// dnf5Prefetch asks dnf for the transaction and posts it to the agent; it
// returns what happened, for dnf's log.
func dnf5Prefetch(ctx context.Context, dnf *actionsConn, agentURL string) (string, error) {
	var assumeno keysVal
	if err := dnf.call("get", "conf", map[string]any{"key": "assumeno"}, &assumeno); err != nil {
		return "", err
	}
	if v, _ := assumeno.value("assumeno"); v == "1" {
		return "no prefetch: nothing is downloaded (--assumeno)", nil
	}
	var trans struct {
		Packages []struct {
			Location string `json:"location"`
			RepoID   string `json:"repo_id"`
			Size     string `json:"download_size"`
		} `json:"trans_packages"`
	}
	err := dnf.call("get", "trans_packages", map[string]any{
		"output":  []string{"location", "repo_id", "download_size"},
		"filters": []map[string]string{{"key": "direction", "value": "IN"}},
	}, &trans)
	if err != nil {
		return "", err
	}
	if len(trans.Packages) == 0 {
		return "no prefetch: no package comes in", nil
	}
	var baseurls keysVal
	if err := dnf.call("get", "conf", map[string]any{"key": "*.baseurl"}, &baseurls); err != nil {
		return "", err
	}
	var req agent.PrefetchRequest
	for _, p := range trans.Packages {
		list, _ := baseurls.value(p.RepoID + ".baseurl")
		base, _, _ := strings.Cut(list, ",")
		base = strings.TrimSpace(base)
		if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
			continue // a metalink or mirrorlist repo, a local one, the command line
		}
		pkg := agent.PrefetchPackage{URL: strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(p.Location, "/")}
		if n, err := strconv.ParseInt(p.Size, 10, 64); err == nil && n > 0 {
			pkg.Size = n
		}
		req.Packages = append(req.Packages, pkg)
	}
	if len(req.Packages) == 0 {
		return "no prefetch: no package comes from an http or https baseurl", nil
	}
	ans, err := postPrefetch(ctx, agentURL, req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("prefetching %d packages, %d refused", ans.Accepted, len(ans.Refused)), nil
}

// postPrefetch posts req to the agent's /prefetch, never through a proxy
// (the agent is on this host), and reads at most maxPrefetchAnswer bytes
// of its answer.
func postPrefetch(ctx context.Context, agentURL string, req agent.PrefetchRequest) (agent.PrefetchAnswer, error) {
	var ans agent.PrefetchAnswer
	body, err := json.Marshal(req)
	if err != nil {
		return ans, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, agentURL+"/prefetch", bytes.NewReader(body))
	if err != nil {
		return ans, err
	}
	r.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(r)
	if err != nil {
		return ans, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPrefetchAnswer+1))
	switch {
	case err != nil:
		return ans, err
	case len(data) > maxPrefetchAnswer:
		return ans, fmt.Errorf("the agent's answer is longer than %d bytes", maxPrefetchAnswer)
	case resp.StatusCode != http.StatusAccepted:
		msg, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
		return ans, fmt.Errorf("the agent answered %s: %s", resp.Status, msg)
	}
	return ans, json.Unmarshal(data, &ans)
}

// actionsConn is the json mode of libdnf5's actions plugin: each request
// is a JSON object written to the plugin (our standard output), and its
// reply the next JSON object read from it (our standard input).
type actionsConn struct {
	dec *json.Decoder
	w   io.Writer
}

// call sends {"op", "domain", "args"} and decodes the reply's "return"
// into ret (when not nil). A reply whose status is not OK is an error.
func (c *actionsConn) call(op, domain string, args, ret any) error {
	req, err := json.Marshal(struct {
		Op     string `json:"op"`
		Domain string `json:"domain,omitempty"`
		Args   any    `json:"args"`
	}{op, domain, args})
	if err != nil {
		return err
	}
	if _, err := c.w.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("asking dnf: %w", err)
	}
	var reply struct {
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Return  json.RawMessage `json:"return"`
	}
	if err := c.dec.Decode(&reply); err != nil {
		return fmt.Errorf("dnf's reply to %s %s: %w", op, domain, err)
	}
	if reply.Status != "OK" {
		return fmt.Errorf("dnf refused %s %s: %s", op, domain, reply.Message)
	}
	if ret == nil {
		return nil
	}
	return json.Unmarshal(reply.Return, ret)
}

// log writes msg to dnf's log at debug level, as the dnf 4 plugin does.
func (c *actionsConn) log(msg string) error {
	return c.call("log", "", map[string]string{"level": "DEBUG", "message": msg}, nil)
}

// keysVal is the return of a "get conf": the options that matched.
type keysVal struct {
	KeysVal []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"keys_val"`
}

func (k keysVal) value(key string) (string, bool) {
	for _, kv := range k.KeysVal {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}
