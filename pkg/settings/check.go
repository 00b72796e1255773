package settings

import (
	"fmt"
	"net/url"
	"strings"
)

// Checks shared by the programs' validation. Their errors say what is
// wrong with the value; the caller puts the setting's name before them.

// ParseBaseURL reads a base URL, to which paths are appended:
// http or https, with a host, without user, query or fragment.
func ParseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not an http or https URL with a host and without user, query or fragment", s)
	}
	return u, nil
}

// CheckSegment returns an error unless s is one path segment: not empty,
// not "." or "..", without "/", "\" or NUL.
func CheckSegment(s string) error {
	if s == "" || strings.ContainsAny(s, "/\\\x00") || s == "." || s == ".." {
		return fmt.Errorf("%q is not one path segment", s)
	}
	return nil
}

// CheckLogLevel returns an error unless s is debug, info, warn or error.
func CheckLogLevel(s string) error {
	switch s {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("%q is not debug, info, warn or error", s)
}
