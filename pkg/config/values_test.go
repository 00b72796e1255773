package config

import "testing"

func TestDefaultValueAndValue(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"piece-length", "1MiB", "1048576"},
		{"revalidate", "1m", "1m0s"},
		{"lock-timeout", "25s", "25s"},
		{"max-files", "10000", "10000"},
		{"cache", "/var/cache/torrent_service", "/var/cache/torrent_service"},
		{"private", "false", "false"},
	} {
		got, ok := DefaultValue(tc.name)
		if !ok || got != tc.want {
			t.Errorf("DefaultValue(%q) = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
		if v, err := Value(tc.name, tc.doc); err != nil || v != tc.want {
			t.Errorf("Value(%q, %q) = %q, %v; want %q", tc.name, tc.doc, v, err, tc.want)
		}
	}
	for _, name := range []string{"root", "base-url", "mirror", "dht-node", "http", "fcgi"} {
		if got, ok := DefaultValue(name); !ok || got != "" {
			t.Errorf("DefaultValue(%q) = %q, %v; want no default", name, got, ok)
		}
	}
	if _, ok := DefaultValue("no-such-setting"); ok {
		t.Error("DefaultValue of an unknown setting reports ok")
	}
	if v, err := Value("private", "1"); err != nil || v != "true" {
		t.Errorf(`Value("private", "1") = %q, %v; want "true"`, v, err)
	}
	if _, err := Value("private", "yes"); err == nil {
		t.Error(`Value("private", "yes") gives no error`)
	}
	if _, err := Value("piece-length", "1 MB"); err == nil {
		t.Error(`Value("piece-length", "1 MB") gives no error`)
	}
}
