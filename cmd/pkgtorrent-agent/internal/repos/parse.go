// Package repos reads yum/dnf .repo files as dnf does: their baseurl
// URLs and the mirror the agent's allow-list makes of each (BaseURLs,
// Mirror), and rewrites them into the agent's local-first form for
// "pkgtorrent-agent repos" (Rewrite, Diff; RewriteDir, AllowedMirrors and
// WriteFile for a folder): each repo's baseurl lists, for every http or
// https mirror in it, the agent's URL of that mirror first, then the
// mirrors as they were:
//
//	baseurl=http://127.0.0.1:7881/m/http/mirror.example.org/yum/el9/x86_64/
//	        http://mirror.example.org/yum/el9/x86_64/
//
// librepo tries a baseurl's URLs in order for each file, so a host whose
// agent is down loses a refused connection per file and nothing else.
//
// Design:
//   - The file is read as libdnf's IniParser reads it (dnf 4; dnf 5 has
//     the same rules): comments are lines whose first byte is '#' or ';', a
//     line that starts with a space or tab continues the value of the key
//     before it, a comment or an empty line ends a value, and a value is
//     split into URLs at spaces, commas and line ends (OptionStringList).
//     A file IniParser rejects is rejected here too, and left alone. An
//     indented line after a comment or an empty line is such a case: dnf
//     4.14 (libdnf 0.69) rejects the file, newer IniParsers continue the
//     value, so the file means different things to different hosts.
//   - Only the lines that hold a rewritten baseurl's URLs change; every
//     other byte (comments, other keys, order, blank lines, CRLF or LF,
//     a missing last newline, a UTF-8 BOM) is kept. The agent's URLs go
//     in as lines of their own, before the first http or https mirror
//     (after a file:// mirror, which is local already), indented as the
//     value's other lines are.
//   - A mirror whose agent URL is already in the list (on any loopback
//     address) is left alone, so a second run changes nothing.
//   - A mirror gets an agent URL only when the agent would fetch from it:
//     an http or https URL that, cut before its first dnf variable, has a
//     host and no user, query or fragment (the rule of the agent's
//     allow-list, which reads the same baseurl lines). Other URLs (file://,
//     ftp://, credentials, tokens) are kept as they are.
//   - Repos with metalink= or mirrorlist= and no baseurl (Fedora's
//     default) are left alone, with a hint: nothing is fetched to resolve
//     them.
//   - A repo with username or password stays on its own mirror, with a
//     note: librepo would send the password to the agent's URL in clear
//     text (and the agent, passing repodata through, on to the mirror).
//     The proxy_ options do not count: librepo gives them to the proxy,
//     not to the URL. Agent URLs already in such a repo's baseurl come out
//     (one whose mirror is not in the list becomes that mirror's URL), and
//     the agent's allow-list leaves its mirrors out (BaseURLs,
//     AllowedMirrors): dnf sends the agent nothing for it, and a stale
//     agent URL gets 403, so dnf takes the next URL (unless an allow
//     setting or another repo names the same mirror). Options in
//     dnf.conf's [main], which every repo inherits, are not read.
//   - A repo with a client certificate (sslclientcert, sslclientkey) is
//     made local-first like any other, with a note: librepo presents the
//     certificate only in a TLS handshake, which the agent's http URL has
//     none of, and the agent presents the repo's certificate, key and CA
//     (its TLSKeys, Source.TLS, DNFTLS) to the mirror itself.
//   - A file another tool writes over is left as it is, even with -w:
//     subscription-manager's redhat.repo (known by its name, or by the
//     "Managed by (rhsm) subscription-manager" line of its header). For
//     each repo Rewrite would change, a note gives the command that makes
//     subscription-manager write the same baseurl (repo-override
//     --add=baseurl:'AGENT MIRROR', or --remove=baseurl for one with
//     credentials that has agent URLs). Its repos have the entitlement
//     certificate as sslclientcert and sslclientkey, which the agent
//     presents for them, so they get the --add command too. Red Hat's own
//     entitlement server (in
//     hosted mode, candlepin's ContentOverrideValidator) refuses baseurl
//     overrides; Satellite's accepts them.
package repos

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// line is one line of a file: its text without the line end, and the line
// end ("\n", "\r\n", or "" for a last line without one).
type line struct {
	text, eol string
}

func splitLines(src []byte) []line {
	var ls []line
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			ls = append(ls, line{text: string(src)})
			break
		}
		l := line{text: string(src[:i]), eol: "\n"}
		if strings.HasSuffix(l.text, "\r") {
			l.text, l.eol = l.text[:len(l.text)-1], "\r\n"
		}
		ls = append(ls, l)
		src = src[i+1:]
	}
	return ls
}

func joinLines(ls []line) []byte {
	var b bytes.Buffer
	for _, l := range ls {
		b.WriteString(l.text)
		b.WriteString(l.eol)
	}
	return b.Bytes()
}

// ParseError is a line libdnf's IniParser rejects; dnf does not read such
// a file, and neither does Rewrite.
type ParseError struct {
	Line int // 1-based
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// section is one [id] section of a file.
type section struct {
	id   string
	line int // index of the header line
	// baseurls are the section's baseurl keys (the last one counts for
	// dnf; each is rewritten).
	baseurls []*value
	// metalink is "metalink" or "mirrorlist" when the section has either
	// with a value.
	metalink string
	// commentedBaseurl is the index of a "#baseurl=" comment line, or -1.
	commentedBaseurl int
	// creds are the section's credential keys with a value (see
	// credentialKeys), in the order they come.
	creds []string
	// proxy are the section's ProxyKeys, with the value of their key
	// line (the last one of each, as dnf takes it).
	proxy map[string]string
	// tls are the section's TLSKeys, the same way.
	tls map[string]string
}

// credentialKeys are the repo options whose value dnf sends with every
// request for the repo's files, to whatever URL of its baseurl it asks:
// username and password (HTTP basic authentication, which librepo sends
// to the agent's http URL too, in clear text). The proxy_ options are not
// among them: librepo gives those to the proxy, not to the URL. Nor are
// the client certificate and its key (TLSKeys): librepo presents them
// only in a TLS handshake, which the agent's http URL has none of, and
// the agent presents them to the mirror itself (see TLS).
var credentialKeys = []string{"username", "password"}

func (s *section) addCred(key string) {
	if !slices.Contains(s.creds, key) {
		s.creds = append(s.creds, key)
	}
}

// value is a key's value: its key line and continuation lines.
type value struct {
	lines []int // line indices: the key line, then continuation lines
	start int   // byte offset of the value in the key line
}

// token is one URL of a value.
type token struct {
	line       int // line index
	start, end int // byte offsets in the line's text
	url        string
}

// tokens splits v into URLs as libdnf's OptionStringList does: at spaces,
// commas and line ends (and tabs and stray CRs, which IniParser trims at
// line ends).
func (v *value) tokens(ls []line) []token {
	var ts []token
	for k, li := range v.lines {
		t := ls[li].text
		i := 0
		if k == 0 {
			i = v.start
		}
		for i < len(t) {
			if isSep(t[i]) {
				i++
				continue
			}
			j := i
			for j < len(t) && !isSep(t[j]) {
				j++
			}
			ts = append(ts, token{line: li, start: i, end: j, url: t[i:j]})
			i = j
		}
	}
	return ts
}

func isSep(c byte) bool { return c == ' ' || c == '\t' || c == ',' || c == '\r' }

// ProxyKeys are dnf's options of the proxy it reaches a repo's URLs
// through that the agent follows for its own requests to the repo's
// mirrors (see DNFProxy).
var ProxyKeys = []string{"proxy", "proxy_username", "proxy_password"}

// TLSKeys are dnf's options of the TLS of a repo's https URLs that the
// agent follows for its own requests to the repo's mirrors (see DNFTLS).
var TLSKeys = []string{"sslcacert", "sslverify", "sslclientcert", "sslclientkey"}

// Source is a repo the agent may serve: the URLs of its baseurl keys, its
// ProxyKeys and its TLSKeys, as written in its section.
type Source struct {
	ID    string
	URLs  []string
	Proxy map[string]string
	TLS   map[string]string
}

// Sources returns the repos of the .repo file src that the agent may
// serve, read as dnf reads the file: every section but [main] and but the
// repos with credentials (see credentialKeys), which stay on their own
// mirrors; repos with a client certificate are among them. A file dnf
// rejects is a *ParseError.
func Sources(src []byte) ([]Source, error) {
	ls := splitLines(src)
	secs, err := parse(ls)
	if err != nil {
		return nil, err
	}
	var out []Source
	for _, s := range secs {
		if s.id == "main" || len(s.creds) > 0 {
			continue
		}
		r := Source{ID: s.id, Proxy: s.proxy, TLS: s.tls}
		for _, v := range s.baseurls {
			for _, t := range v.tokens(ls) {
				r.URLs = append(r.URLs, t.url)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// BaseURLs returns the URLs of the repos of Sources(src), in order.
func BaseURLs(src []byte) ([]string, error) {
	rs, err := Sources(src)
	var urls []string
	for _, r := range rs {
		urls = append(urls, r.URLs...)
	}
	return urls, err
}

// MainTLS returns the TLSKeys of the [main] section of dnf's
// configuration file src (dnf.conf), which every repo inherits.
func MainTLS(src []byte) (map[string]string, error) {
	secs, err := parse(splitLines(src))
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id == "main" {
			return s.tls, nil
		}
	}
	return nil, nil
}

// mainKeys are the options of dnf.conf's [main] repos reads besides the
// ProxyKeys (ReadDnfConf); the parser keeps them with those.
var mainKeys = []string{"max_parallel_downloads", "ip_resolve"}

// MainProxy returns the ProxyKeys (and mainKeys) of the [main] section of
// dnf's configuration file src (dnf.conf), which every repo inherits.
func MainProxy(src []byte) (map[string]string, error) {
	secs, err := parse(splitLines(src))
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id == "main" {
			return s.proxy, nil
		}
	}
	return nil, nil
}

// DNFProxy is the proxy dnf (libdnf's repo options, librepo) reaches the
// URLs of a repo through, from the ProxyKeys of its section (repo) and of
// dnf.conf's [main] (main): each key of the repo's, when present, else
// [main]'s. nil when there is none: proxy empty or _none_. The user and
// password are in the URL.
func DNFProxy(main, repo map[string]string) (*url.URL, error) {
	get := func(k string) string {
		if v, ok := repo[k]; ok {
			return v
		}
		return main[k]
	}
	p := get("proxy")
	if p == "" || p == settings.NoProxy {
		return nil, nil
	}
	u, err := settings.ParseProxy(p)
	if err != nil {
		return nil, err
	}
	if user := get("proxy_username"); user != "" {
		u.User = url.UserPassword(user, get("proxy_password"))
	}
	return u, nil
}

// parse reads the sections of a file as libdnf's IniParser does.
func parse(ls []line) ([]*section, error) {
	var (
		secs []*section
		cur  *section
		// val is the value the next continuation line belongs to: nil
		// when none may follow; skip when it is another key's.
		val    *value
		inKey  bool
		isBase bool
		// cred is the credential key whose value is open, or "".
		cred string
	)
	for i, l := range ls {
		t := l.text
		if i == 0 {
			t = strings.TrimPrefix(t, "\ufeff")
		}
		if t != "" && (t[0] == '#' || t[0] == ';') {
			if cur != nil && cur.commentedBaseurl < 0 {
				if k, _, ok := strings.Cut(strings.TrimLeft(t[1:], " \t#;"), "="); ok && strings.TrimSpace(k) == "baseurl" {
					cur.commentedBaseurl = i
				}
			}
			inKey = false
			continue
		}
		if t == "" && l.eol != "\r\n" {
			// Empty, where libdnf reads "\r" for a CRLF line's.
			inKey = false
			continue
		}
		start := strings.IndexFunc(t, func(r rune) bool { return r != ' ' && r != '\t' && r != '\r' })
		if start < 0 {
			// Spaces only: an empty line of the value, if one is open.
			if inKey && isBase {
				val.lines = append(val.lines, i)
			}
			continue
		}
		if t[start] == '[' {
			end := strings.IndexByte(t[start:], ']')
			if end < 0 {
				return nil, &ParseError{i + 1, "missing ']'"}
			}
			end += start
			if end == start+1 {
				return nil, &ParseError{i + 1, "empty section name"}
			}
			cur = &section{id: t[start+1 : end], line: i, commentedBaseurl: -1}
			secs = append(secs, cur)
			inKey, val = false, nil
			continue
		}
		if cur == nil {
			return nil, &ParseError{i + 1, "a key before the first [section]"}
		}
		if start > 0 {
			if !inKey {
				return nil, &ParseError{i + 1, "an indented line that continues no key (after a comment or an empty line, dnf 4 rejects it)"}
			}
			if isBase {
				val.lines = append(val.lines, i)
			}
			if cred != "" {
				// A value that starts on the next line.
				cur.addCred(cred)
			}
			continue
		}
		if t[0] == '=' {
			return nil, &ParseError{i + 1, "missing key before '='"}
		}
		eq := strings.IndexByte(t, '=')
		if eq < 0 {
			return nil, &ParseError{i + 1, "missing '='"}
		}
		key := strings.TrimRight(t[:eq], " \t")
		vs := eq + 1
		for vs < len(t) && (t[vs] == ' ' || t[vs] == '\t') {
			vs++
		}
		inKey, isBase, val, cred = true, key == "baseurl", nil, ""
		if slices.Contains(ProxyKeys, key) || slices.Contains(mainKeys, key) {
			if cur.proxy == nil {
				cur.proxy = map[string]string{}
			}
			cur.proxy[key] = strings.TrimRight(t[vs:], " \t\r")
		}
		if slices.Contains(TLSKeys, key) {
			if cur.tls == nil {
				cur.tls = map[string]string{}
			}
			cur.tls[key] = strings.TrimRight(t[vs:], " \t\r")
		}
		switch key {
		case "baseurl":
			val = &value{lines: []int{i}, start: vs}
			cur.baseurls = append(cur.baseurls, val)
		case "metalink", "mirrorlist":
			if strings.TrimSpace(t[vs:]) != "" {
				cur.metalink = key
			}
		default:
			if slices.Contains(credentialKeys, key) {
				if strings.TrimSpace(t[vs:]) != "" {
					cur.addCred(key)
				} else {
					cred = key
				}
			}
		}
	}
	return secs, nil
}
