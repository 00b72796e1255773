package repos

import (
	"fmt"
	"net"
	"net/url"
	"slices"
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
	// Owner is the tool that writes the file over ("subscription-manager",
	// see owner), or ""; Note (when not "") says why the file is left as
	// it is.
	Owner, Note string

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
	// Added are the agent URLs Rewrite put in (none in a file another
	// tool owns).
	Added []string
	// Credentials are the repo's keys that keep it on its own mirror
	// (username, password: see credentialKeys; a client certificate does
	// not, the agent presents it). Such a repo gets no agent URL, its Mirrors are
	// empty (the agent does not allow them for it), and Removed are the
	// agent URLs Rewrite took out of its baseurl, Restored the mirror URLs
	// it put in place of those whose mirror was not in the list.
	Credentials       []string
	Removed, Restored []string
	// Command, for a repo of a file another tool owns (Result.Owner), is
	// the shell command that makes that tool write the baseurl Rewrite
	// would have written, or "".
	Command string
	// Notes are one line each on URLs kept without an agent URL, on why a
	// repo with Credentials stays on its own mirror, and on the Command;
	// Hint (when not "") is one on a repo Rewrite could not make
	// local-first.
	Notes []string
	Hint  string
	// Proxy are the repo's ProxyKeys, as written (see DNFProxy).
	Proxy map[string]string
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
	if _, agent := AgentPath(m.Path); agent && LoopbackHost(m.Host) {
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
// it), when u is one (see agentMirror).
func agentTarget(u string) (string, bool) {
	m, ok := agentMirror(u)
	if !ok {
		return "", false
	}
	return mirrorKey(m), true
}

// agentMirror is the mirror URL an agent URL u names, as u spells it, when
// u is one: http on a loopback host, with a path under /m/http/ or
// /m/https/ (and the mirror not itself an agent URL).
func agentMirror(u string) (string, bool) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || !strings.EqualFold(scheme, "http") {
		return "", false
	}
	host, path, _ := strings.Cut(rest, "/")
	if !LoopbackHost(host) {
		return "", false
	}
	path, ok = AgentPath("/" + path)
	if !ok {
		return "", false
	}
	ms, mrest, ok := strings.Cut(path, "/")
	if !ok || (ms != "http" && ms != "https") {
		return "", false
	}
	if m, ok := agentMirror(ms + "://" + mrest); ok {
		// The agent's URL of its own URL.
		return m, true
	}
	return ms + "://" + mrest, true
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
// of the .repo file src, but for repos with credentials, which it takes
// the agent out of, and for files another tool owns, which it leaves as
// they are (see the package documentation). It fails only on a file
// libdnf would not read (a *ParseError).
func Rewrite(src []byte, base string) (*Result, error) {
	return rewrite("", src, base, 1)
}

// RewriteLanes is Rewrite with lanes agent URLs for each mirror (see
// Lanes): those a baseurl lacks are added.
func RewriteLanes(src []byte, base string, lanes int) (*Result, error) {
	return rewrite("", src, base, lanes)
}

// rewrite is Rewrite of the file name, whose base name tells its owner
// too (see owner).
func rewrite(name string, src []byte, base string, lanes int) (*Result, error) {
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
	r := &Result{old: ls, Owner: owner(name, ls)}
	if r.Owner != "" {
		r.Note = r.Owner + " writes this file and overwrites changes made to it: left as it is, even with -w"
	}
	for _, s := range secs {
		if s.id == "main" {
			continue
		}
		rp, es := rewriteSection(s, ls, base, lanes, eol, r.Owner)
		if r.Owner == "" {
			r.edits = append(r.edits, es...)
		} else {
			rp.Added, rp.Removed, rp.Restored = nil, nil, nil
		}
		r.Repos = append(r.Repos, rp)
	}
	r.edits = merged(r.edits)
	r.new = apply(ls, r.edits)
	r.Text = src
	if r.Changed() {
		r.Text = joinLines(r.new)
	}
	return r, nil
}

// rewriteSection is what Rewrite does to the repo of section s: the
// repo's Repo and the edits of its baseurl values, which a file that tool
// owns does not take (the Repo has a Command instead).
func rewriteSection(s *section, ls []line, base string, lanes int, eol, tool string) (Repo, []edit) {
	rp := Repo{ID: s.id, Credentials: s.creds, Proxy: s.proxy}
	var (
		es      []edit
		hasURL  bool
		hasHTTP bool
		// last is the URLs of the last baseurl (the one dnf takes) when
		// Rewrite changed it.
		last []string
	)
	for _, v := range s.baseurls {
		ts := v.tokens(ls)
		hasURL = hasURL || len(ts) > 0
		hasHTTP = hasHTTP || slices.ContainsFunc(ts, func(t token) bool { return isHTTP(t.url) })
		last = nil
		if len(s.creds) > 0 {
			es = append(es, restoreValue(&rp, ls, v, ts)...)
			continue
		}
		if e, urls, ok := rewriteValue(&rp, ls, v, ts, base, lanes, eol); ok {
			es = append(es, e)
			last = urls
		}
	}
	switch {
	case len(s.creds) > 0 && (hasHTTP || (!hasURL && s.metalink != "")):
		rp.Notes = append(rp.Notes, credentialsNote(&rp, tool))
	case !hasURL && s.metalink != "":
		rp.Hint = hint(s, tool)
	case tool != "" && last != nil:
		rp.Command = repoOverride(s.id, "--add=baseurl:"+shellQuote(strings.Join(last, " ")))
		rp.Notes = append(rp.Notes, fmt.Sprintf("[%s] is in a file %s writes: make it local-first with: %s", s.id, tool, rp.Command))
	}
	if len(s.creds) == 0 && len(rp.Mirrors) > 0 && hasClientCert(s.tls) {
		rp.Notes = append(rp.Notes, certNote(s.id, s.tls))
	}
	return rp, es
}

// rewriteValue makes the edit that puts the agent's URLs for v's
// uncovered mirrors before its first http or https mirror, and gives the
// value's URLs after it.
func rewriteValue(rp *Repo, ls []line, v *value, ts []token, base string, lanes int, eol string) (edit, []string, bool) {
	// covered holds the lanes each mirror has an agent URL in.
	covered := map[string]map[int]bool{}
	for _, t := range ts {
		if k, ok := agentTarget(t.url); ok {
			if covered[k] == nil {
				covered[k] = map[int]bool{}
			}
			covered[k][laneOf(t.url)] = true
		}
	}
	seen := map[string]bool{}
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
		if k := mirrorKey(t.url); !seen[k] {
			seen[k] = true
			for n := 1; n <= lanes; n++ {
				if !covered[k][n] {
					add = append(add, LaneURL(base, n, t.url))
				}
			}
		}
	}
	if len(add) == 0 {
		return edit{}, nil, false
	}
	rp.Added = append(rp.Added, add...)
	var urls []string
	for i, t := range ts {
		if i == first {
			urls = append(urls, add...)
		}
		urls = append(urls, t.url)
	}
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
		return edit{start: ft.line, end: ft.line, lines: out}, urls, true
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
	return edit{start: ft.line, end: ft.line + 1, lines: out}, urls, true
}

// merged joins edits that touch into one, as diff -u shows them.
func merged(es []edit) []edit {
	var out []edit
	for _, e := range es {
		if n := len(out); n > 0 && out[n-1].end == e.start {
			out[n-1].end = e.end
			out[n-1].lines = slices.Concat(out[n-1].lines, e.lines)
			continue
		}
		out = append(out, e)
	}
	return out
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

func hint(s *section, tool string) string {
	how := fmt.Sprintf("dnf config-manager --save --setopt=%s.baseurl=http://MIRROR/PATH/", s.id)
	if tool != "" {
		how = repoOverride(s.id, "--add=baseurl:http://MIRROR/PATH/")
	}
	h := fmt.Sprintf("[%s] uses %s= and has no baseurl: left as it is; give it the fleet's mirror as baseurl (%s", s.id, s.metalink, how)
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
