package repos

import (
	"fmt"
	"strings"
)

// TLS is how dnf (librepo) makes the TLS connection to a repo's https
// URLs, from the repo's TLSKeys: the agent makes its own requests to the
// repo's mirrors the same way (package agent's Mirrors).
type TLS struct {
	// ClientCert is sslclientcert, the file of the client certificate
	// presented to the mirror, and ClientKey sslclientkey, the file of its
	// private key ("": in ClientCert's file, as libcurl takes it).
	ClientCert, ClientKey string
	// CACert is sslcacert, the file of the CAs trusted for the mirror's
	// certificate instead of the system's (libcurl's CAINFO); "" for the
	// system's.
	CACert string
	// NoVerify is sslverify=0: the mirror's certificate is not checked.
	NoVerify bool
}

// IsZero reports whether t is dnf's default: no client certificate, the
// system's CAs, and the mirror's certificate checked.
func (t TLS) IsZero() bool { return t == TLS{} }

// DNFTLS is the TLS of a repo's https URLs, from the TLSKeys of its
// section (repo) and of dnf.conf's [main] (main): each key of the repo's,
// when present, else [main]'s, as libdnf's repo options inherit them. An
// sslverify that libdnf does not read as a boolean, a key without its
// certificate, or a path with a dnf variable (the agent does not know
// their values) is an error.
func DNFTLS(main, repo map[string]string) (TLS, error) {
	get := func(k string) string {
		if v, ok := repo[k]; ok {
			return strings.TrimSpace(v)
		}
		return strings.TrimSpace(main[k])
	}
	t := TLS{ClientCert: get("sslclientcert"), ClientKey: get("sslclientkey"), CACert: get("sslcacert")}
	if v, ok := repo["sslverify"]; ok || main["sslverify"] != "" {
		if !ok {
			v = main["sslverify"]
		}
		// libdnf's OptionBool, lower-cased.
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "1", "yes", "true", "on":
		case "0", "no", "false", "off":
			t.NoVerify = true
		default:
			return t, fmt.Errorf("sslverify %q: not a boolean (1, yes, true, on, 0, no, false, off)", v)
		}
	}
	for k, p := range map[string]string{"sslclientcert": t.ClientCert, "sslclientkey": t.ClientKey, "sslcacert": t.CACert} {
		if strings.Contains(p, "$") {
			return t, fmt.Errorf("%s %q: a path with a dnf variable, whose value the agent does not know", k, p)
		}
	}
	if t.ClientKey != "" && t.ClientCert == "" {
		return t, fmt.Errorf("sslclientkey %q without sslclientcert", t.ClientKey)
	}
	return t, nil
}
