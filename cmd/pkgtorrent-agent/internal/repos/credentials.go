package repos

import (
	"fmt"
	"slices"
	"strings"
)

// certNote is the note on a repo with a client certificate that goes
// through the agent: the agent presents the certificate to the mirror,
// and so must be able to read it.
func certNote(id string, tls map[string]string) string {
	var keys []string
	for _, k := range []string{"sslclientcert", "sslclientkey"} {
		if _, ok := tls[k]; ok {
			keys = append(keys, k)
		}
	}
	return fmt.Sprintf("[%s] has a client certificate (%s): the agent presents it to the mirror, and must be able to read it (pkgtorrent-agent(8), CLIENT CERTIFICATES)",
		id, strings.Join(keys, ", "))
}

// hasClientCert reports whether the TLSKeys tls name a client certificate
// or key.
func hasClientCert(tls map[string]string) bool {
	return slices.ContainsFunc([]string{"sslclientcert", "sslclientkey"}, func(k string) bool { return strings.TrimSpace(tls[k]) != "" })
}

// credentialsNote is the note on a repo with credentials: why it stays
// on its own mirror, and what happens to the agent URLs it has.
func credentialsNote(rp *Repo, tool string) string {
	n := fmt.Sprintf("[%s] kept on its own mirror without the agent: it has %s (dnf would send the agent the password in clear text)", rp.ID, strings.Join(rp.Credentials, ", "))
	switch {
	case len(rp.Removed) == 0:
	case tool != "":
		rp.Command = repoOverride(rp.ID, "--remove=baseurl")
		n += "; take the agent's URLs out of it with: " + rp.Command
	default:
		n += "; the agent's URLs are taken out of its baseurl"
	}
	return n
}

// repoOverride is the subscription-manager command that sets (op
// --add=baseurl:VALUE) or drops (--remove=baseurl) the baseurl override
// of repo id. Its --add splits NAME:VALUE at the first colon and takes the
// rest as the value, spaces and colons included (OverrideCommand.
// _additions_colon_split in subscription-manager's cli_command/override.py);
// the override is written into redhat.repo as "baseurl = VALUE", which dnf
// splits at the spaces. --remove=baseurl gives the repo back the baseurl
// the entitlement server sends.
func repoOverride(id, op string) string {
	return "subscription-manager repo-override --repo=" + shellQuote(id) + " " + op
}

// shellQuote is s as one word of a POSIX shell: as it is when it has
// only characters the shell takes literally, otherwise in single quotes
// (which keep $releasever from the shell).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// restoreValue makes the edits that take the agent's URLs out of v, for a
// repo with credentials: an agent URL whose mirror is in the list goes,
// one whose mirror is not becomes that mirror's URL. A continuation line
// left without URLs goes; the key line takes the URLs of the next line
// that has some instead, so that a value Rewrite wrote comes back as it
// was.
func restoreValue(rp *Repo, ls []line, v *value, ts []token) []edit {
	direct := map[string]bool{}
	for _, t := range ts {
		if _, ok := agentTarget(t.url); !ok && isHTTP(t.url) {
			direct[mirrorKey(t.url)] = true
		}
	}
	// repl is each URL's replacement, "" for one that goes.
	repl := make([]string, len(ts))
	changed := map[int]bool{} // lines with agent URLs
	for i, t := range ts {
		repl[i] = t.url
		m, ok := agentMirror(t.url)
		if !ok {
			continue
		}
		changed[t.line] = true
		rp.Removed = append(rp.Removed, t.url)
		repl[i] = ""
		if k := mirrorKey(m); !direct[k] {
			direct[k] = true
			repl[i] = m
			rp.Restored = append(rp.Restored, m)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	// text is the new text of each line whose URLs changed, or of the key
	// line; gone are the lines left without URLs.
	text := map[int]line{}
	gone := map[int]bool{}
	keyEmpty := false
	for i := 0; i < len(ts); {
		li, t := ts[i].line, ls[ts[i].line].text
		j := i
		for j < len(ts) && ts[j].line == li {
			j++
		}
		kept := -1
		b := []byte(t[:ts[i].start])
		for k := i; k < j; k++ {
			if repl[k] == "" {
				continue
			}
			if kept >= 0 {
				b = append(b, t[ts[kept].end:ts[kept+1].start]...)
			}
			b = append(b, repl[k]...)
			kept = k
		}
		switch {
		case !changed[li]:
		case kept >= 0:
			text[li] = line{string(b) + t[ts[j-1].end:], ls[li].eol}
		case li == v.lines[0]:
			text[li] = line{string(b), ls[li].eol}
			keyEmpty = true
		default:
			gone[li] = true
		}
		i = j
	}
	if keyEmpty {
		// The key line has no URL left: those of the next line with URLs
		// come up.
		key := v.lines[0]
		for _, li := range v.lines[1:] {
			n, ok := text[li]
			if !ok && !gone[li] && strings.Trim(ls[li].text, " \t\r") != "" {
				n, ok = ls[li], true
			}
			if ok {
				text[key] = line{text[key].text + strings.TrimLeft(n.text, " \t\r"), n.eol}
				delete(text, li)
				gone[li] = true
				break
			}
		}
	}
	var es []edit
	for _, li := range v.lines {
		switch n, ok := text[li]; {
		case gone[li]:
			es = append(es, edit{start: li, end: li + 1})
		case ok && n != ls[li]:
			es = append(es, edit{start: li, end: li + 1, lines: []line{n}})
		}
	}
	return es
}
