package service

import (
	"net/http"
	"net/url"
	"strings"
)

// formValues returns the values of the fields called name in an
// application/x-www-form-urlencoded body, in order, decoded as
// url.ParseQuery decodes them. It keeps no other field, and stops with a
// client error at the (max+1)th field called name, at a field with a
// semicolon (which net/url refuses too) or at a bad escape.
//
// net/http's ParseForm is not used: it keeps every field, and it refuses
// bodies of more than 10 000 fields whatever the max-files setting says.
func formValues(body, name string, max int) ([]string, error) {
	var vals []string
	for field := range strings.SplitSeq(body, "&") {
		if field == "" {
			continue
		}
		if strings.IndexByte(field, ';') >= 0 {
			return nil, clientError(http.StatusBadRequest, "bad request: form field %.40q has a semicolon (separate fields with &)", field)
		}
		k, v, _ := strings.Cut(field, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, clientError(http.StatusBadRequest, "bad request: form field name %.40q: %v", k, err)
		}
		if key != name {
			continue
		}
		if len(vals) == max {
			return nil, clientError(http.StatusBadRequest, "bad request: more than %d %s fields (the most files one torrent may hold)", max, name)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, clientError(http.StatusBadRequest, "bad request: form field value %.40q: %v", v, err)
		}
		vals = append(vals, val)
	}
	return vals, nil
}

// checkFormType accepts a request without Content-Type, or with the form
// type.
func checkFormType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		return clientError(http.StatusBadRequest, "bad request: Content-Type %.60q, want application/x-www-form-urlencoded", ct)
	}
	return nil
}
