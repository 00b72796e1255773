package repos

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// Result is what Rewrite made of one file.
type Result struct {
	// Text is the rewritten file; it equals the input when Changed is
	// false.
	Text []byte
	// Repos are the file's repo sections, in order.
	Repos []Repo

	old, new []line
	edits    []edit
}

// Changed reports whether Rewrite changed anything.
func (r *Result) Changed() bool { return len(r.edits) > 0 }

// Repo is what Rewrite found and did in one repo section.
type Repo struct {
	ID string
	// Mirrors are the http and https mirrors of its baseurl that the agent
	// fetches from, in order, with their agent URL or not.
	Mirrors []string
	// Added are the agent URLs Rewrite put in.
	Added []string
	// Notes are one line each on URLs kept without an agent URL, and
	// Hint (when not "") on a repo Rewrite could not make local-first.
	Notes []string
	Hint  string
}

// edit replaces the old lines [start, end) with lines.
type edit struct {
	start, end int
	lines      []line
}

// AgentBase returns the base of the agent's URLs for an agent listening
// on listen: http://127.0.0.1:7881 for 127.0.0.1:7881, :7881 or
// 0.0.0.0:7881. The address must be a loopback one (or unspecified, which
// loopback reaches): the agent tells its own URLs from mirrors by their
// loopback host, and listens on loopback so that it is no proxy for other
// hosts.
func AgentBase(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", listen, err)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.Equal(net.IPv4zero)):
		host = "127.0.0.1"
	case ip != nil && ip.Equal(net.IPv6unspecified):
		host = "::1"
	case host == "localhost" || (ip != nil && ip.IsLoopback()):
	default:
		return "", fmt.Errorf("listen %q: not a loopback address, so the agent would take its own URLs for a mirror's", listen)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// AgentURL is the agent's URL for mirror URL m (http or https), dnf
// variables and all.
func AgentURL(base, m string) string {
	scheme, rest, _ := strings.Cut(m, "://")
	return base + "/m/" + strings.ToLower(scheme) + "/" + rest
}

// Mirror is the mirror the agent's allow-list makes of a baseurl u: u up
// to its first dnf variable, cut back to a folder, when that is an http
// or https URL with a host and no user, query or fragment. It is false
// for the agent's own URLs (a loopback host and a path under /m/).
func Mirror(u string) (settings.Mirror, bool) {
	if i := strings.IndexByte(u, '$'); i >= 0 {
		u = u[:strings.LastIndexByte(u[:i], '/')+1]
	}
	m, err := settings.ParseMirror(u)
	if err != nil {
		return m, false
	}
	if LoopbackHost(m.Host) && strings.HasPrefix(m.Path, "/m/") {
		return m, false
	}
	return m, true
}

// LoopbackHost reports whether the host[:port] of a URL is localhost or
// a loopback address, where the agent's own URLs are.
func LoopbackHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	ip := net.ParseIP(h)
	return strings.EqualFold(h, "localhost") || (ip != nil && ip.IsLoopback())
}

// agentTarget is the mirror an agent URL u names (as mirrorKey makes
// it), when u is one: http on a loopback host, with a path under
// /m/http/ or /m/https/.
func agentTarget(u string) (string, bool) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || !strings.EqualFold(scheme, "http") {
		return "", false
	}
	host, path, _ := strings.Cut(rest, "/")
	if !LoopbackHost(host) {
		return "", false
	}
	path, ok = strings.CutPrefix(path, "m/")
	if !ok {
		return "", false
	}
	ms, mrest, ok := strings.Cut(path, "/")
	if !ok || (ms != "http" && ms != "https") {
		return "", false
	}
	return mirrorKey(ms + "://" + mrest), true
}

// mirrorKey is u with its scheme and host lower-cased and a default port
// dropped, as the agent compares hosts.
func mirrorKey(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	scheme = strings.ToLower(scheme)
	host, path, _ := strings.Cut(rest, "/")
	return scheme + "://" + settings.CanonicalHost(scheme, host) + "/" + path
}

func isHTTP(u string) bool {
	scheme, _, ok := strings.Cut(u, "://")
	scheme = strings.ToLower(scheme)
	return ok && (scheme == "http" || scheme == "https")
}

// Rewrite puts the agent at base (see AgentBase) first in every baseurl
// of the .repo file src. It fails only on a file libdnf would not read (a
// *ParseError).
func Rewrite(src []byte, base string) (*Result, error) {
	ls := splitLines(src)
	secs, err := parse(ls)
	if err != nil {
		return nil, err
	}
	eol := "\n"
	for _, l := range ls {
		if l.eol != "" {
			eol = l.eol
			break
		}
	}
	r := &Result{old: ls}
	for _, s := range secs {
		if s.id == "main" {
			continue
		}
		rp := Repo{ID: s.id}
		hasURL := false
		for _, v := range s.baseurls {
			ts := v.tokens(ls)
			hasURL = hasURL || len(ts) > 0
			if e, ok := rewriteValue(&rp, ls, v, ts, base, eol); ok {
				r.edits = append(r.edits, e)
			}
		}
		if !hasURL && s.metalink != "" {
			rp.Hint = hint(s)
		}
		r.Repos = append(r.Repos, rp)
	}
	r.new = apply(ls, r.edits)
	r.Text = src
	if r.Changed() {
		r.Text = joinLines(r.new)
	}
	return r, nil
}

// rewriteValue makes the edit that puts the agent's URLs for v's
// uncovered mirrors before its first http or https mirror.
func rewriteValue(rp *Repo, ls []line, v *value, ts []token, base, eol string) (edit, bool) {
	covered := map[string]bool{}
	for _, t := range ts {
		if k, ok := agentTarget(t.url); ok {
			covered[k] = true
		}
	}
	first := -1
	var add []string
	for i, t := range ts {
		if _, ok := agentTarget(t.url); ok || !isHTTP(t.url) {
			continue
		}
		if first < 0 {
			first = i
		}
		if _, ok := Mirror(t.url); !ok {
			rp.Notes = append(rp.Notes, fmt.Sprintf("[%s] %s kept without the agent: the agent fetches only http and https URLs without user, query or fragment, with a host before any $variable", rp.ID, redacted(t.url)))
			continue
		}
		rp.Mirrors = append(rp.Mirrors, t.url)
		if k := mirrorKey(t.url); !covered[k] {
			covered[k] = true
			add = append(add, AgentURL(base, t.url))
		}
	}
	if len(add) == 0 {
		return edit{}, false
	}
	rp.Added = append(rp.Added, add...)
	// The indent of the value's continuation lines, or the width of
	// "baseurl=" so that the URLs line up.
	indent := strings.Repeat(" ", v.start)
	for _, li := range v.lines[1:] {
		if t := ls[li].text; strings.TrimLeft(t, " \t\r") != "" {
			indent = t[:len(t)-len(strings.TrimLeft(t, " \t\r"))]
			break
		}
	}
	ft := ts[first]
	l := ls[ft.line]
	head := l.text[:ft.start]
	if ft.line != v.lines[0] && (first == 0 || ts[first-1].line != ft.line) {
		// The mirror starts a continuation line: the agent's URLs go in
		// as lines before it, with its indent.
		var out []line
		for _, a := range add {
			out = append(out, line{head + a, eol})
		}
		return edit{start: ft.line, end: ft.line, lines: out}, true
	}
	var out []line
	if first > 0 && ts[first-1].line == ft.line {
		// Another URL before it on the same line: that one stays on its
		// line, the mirror moves to a line of its own.
		out = append(out, line{l.text[:ts[first-1].end], eol})
		head = indent
	}
	for _, a := range add {
		out = append(out, line{head + a, eol})
		head = indent
	}
	out = append(out, line{head + l.text[ft.start:], l.eol})
	return edit{start: ft.line, end: ft.line + 1, lines: out}, true
}

// redacted is u with its password and query, if any, shown as xxxxx:
// notes end up in logs.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	if p.RawQuery != "" {
		p.RawQuery = "xxxxx"
	}
	return p.Redacted()
}

func hint(s *section) string {
	h := fmt.Sprintf("[%s] uses %s= and has no baseurl: left as it is; give it the fleet's mirror as baseurl "+
		"(dnf config-manager --save --setopt=%s.baseurl=http://MIRROR/PATH/", s.id, s.metalink, s.id)
	if s.commentedBaseurl >= 0 {
		h += fmt.Sprintf("; line %d has a commented-out baseurl with the path", s.commentedBaseurl+1)
	}
	return h + "), then run pkgtorrent-agent repos again"
}

func apply(ls []line, es []edit) []line {
	var out []line
	at := 0
	for _, e := range es {
		out = append(out, ls[at:e.start]...)
		out = append(out, e.lines...)
		at = e.end
	}
	return append(out, ls[at:]...)
}
