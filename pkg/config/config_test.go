package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "pkgtorrent.conf")
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load(no arguments) error = %v, want nil", err)
	}
	want := Config{
		Cache:       "/var/cache/torrent_service",
		Trackers:    "/var/lib/torrent_service/trackers",
		ServiceName: "torrent_service",
		PieceLength: 1 << 20,
		Format:      torrent.BEP47,
		Revalidate:  time.Minute,
		MaxFiles:    10000,
		MaxWalk:     1000000,
		MaxWalkTime: 5 * time.Second,
		MaxTrackers: 100,
		LockTimeout: 25 * time.Second,
		LogLevel:    "info",
		HashPath:    "auto",

		InfoCacheSize:  1 << 30,
		MaxConnections: 1024,
		HeaderTimeout:  10 * time.Second,
		BodyTimeout:    60 * time.Second,
		IdleTimeout:    60 * time.Second,
		WriteTimeout:   30 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(no arguments) = %+v, want %+v", got, want)
	}
}

func TestLoadFlags(t *testing.T) {
	root := t.TempDir()
	args := []string{
		"-root", root,
		"-cache", "/tmp/cache",
		"-trackers", "/tmp/trackers",
		"-service-name", "ts",
		"-piece-length", "256KiB",
		"-format", "pkgtorrent",
		"-revalidate", "0s",
		"-base-url", "https://cdn.example/mirror",
		"-max-files", "5",
		"-max-walk", "500",
		"-max-walk-time", "2s",
		"-max-trackers", "7",
		"-lock-timeout", "3s",
		"-private",
		"-http", "127.0.0.1:8080",
		"-log-level", "debug",
	}
	got, err := Load(args, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load error = %v, want nil", err)
	}
	want := Config{
		Root:        root,
		Cache:       "/tmp/cache",
		Trackers:    "/tmp/trackers",
		ServiceName: "ts",
		PieceLength: 256 << 10,
		Format:      torrent.Pkgtorrent,
		Revalidate:  0,
		BaseURL:     "https://cdn.example/mirror",
		MaxFiles:    5,
		MaxWalk:     500,
		MaxWalkTime: 2 * time.Second,
		MaxTrackers: 7,
		LockTimeout: 3 * time.Second,
		Private:     true,
		HTTP:        "127.0.0.1:8080",
		LogLevel:    "debug",
		HashPath:    "auto",

		InfoCacheSize:  1 << 30,
		MaxConnections: 1024,
		HeaderTimeout:  10 * time.Second,
		BodyTimeout:    60 * time.Second,
		IdleTimeout:    60 * time.Second,
		WriteTimeout:   30 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
}

func TestLoadFile(t *testing.T) {
	root := t.TempDir()
	name := writeConfig(t, `# pkgtorrent-service settings

root = `+root+`
  cache=/srv/cache
trackers   =   /srv/trackers   
piece-length = 512KiB
	# indented comment
format = pkgtorrent
revalidate = 90s
fcgi = unix:/run/pkgtorrent.sock
max-files = 77
base-url = http://mirror.example:8080
private = true
log-level = warn
`)
	got, err := Load([]string{"-config", name}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load error = %v, want nil", err)
	}
	want := Config{
		Root:        root,
		Cache:       "/srv/cache",
		Trackers:    "/srv/trackers",
		ServiceName: "torrent_service",
		PieceLength: 512 << 10,
		Format:      torrent.Pkgtorrent,
		Revalidate:  90 * time.Second,
		BaseURL:     "http://mirror.example:8080",
		MaxFiles:    77,
		MaxWalk:     1000000,
		MaxWalkTime: 5 * time.Second,
		MaxTrackers: 100,
		LockTimeout: 25 * time.Second,
		FCGI:        "unix:/run/pkgtorrent.sock",
		Private:     true,
		LogLevel:    "warn",
		HashPath:    "auto",

		InfoCacheSize:  1 << 30,
		MaxConnections: 1024,
		HeaderTimeout:  10 * time.Second,
		BodyTimeout:    60 * time.Second,
		IdleTimeout:    60 * time.Second,
		WriteTimeout:   30 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v, want %+v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		// names is what the error must name.
		names  string
		prefix bool // the error must start with names
	}{
		{"piece length not a power of two", []string{"-piece-length", "48KiB"}, "piece-length", true},
		{"piece length not a power of two in bytes", []string{"-piece-length", "1000000"}, "piece-length", true},
		{"piece length below 16 KiB", []string{"-piece-length", "8KiB"}, "piece-length", true},
		{"piece length above 64 MiB", []string{"-piece-length", "128MiB"}, "piece-length", true},
		{"piece length zero", []string{"-piece-length", "0"}, "piece-length", false},
		{"piece length negative", []string{"-piece-length", "-16KiB"}, "piece-length", false},
		{"piece length not a number", []string{"-piece-length", "big"}, "piece-length", false},
		{"piece length with an unknown unit", []string{"-piece-length", "1GiB"}, "piece-length", false},
		{"piece length overflowing", []string{"-piece-length", "99999999999999999999"}, "piece-length", false},
		{"format unknown", []string{"-format", "bep52"}, "format", false},
		{"revalidate negative", []string{"-revalidate", "-1s"}, "revalidate", true},
		{"revalidate not a duration", []string{"-revalidate", "soon"}, "revalidate", false},
		{"max-files zero", []string{"-max-files", "0"}, "max-files", true},
		{"max-files not a number", []string{"-max-files", "many"}, "max-files", false},
		{"max-walk below max-files", []string{"-max-walk", "9", "-max-files", "10"}, "max-walk", true},
		{"max-walk not a number", []string{"-max-walk", "x"}, "max-walk", false},
		{"max-walk-time zero", []string{"-max-walk-time", "0s"}, "max-walk-time", true},
		{"max-walk-time not a duration", []string{"-max-walk-time", "long"}, "max-walk-time", false},
		{"max-trackers zero", []string{"-max-trackers", "0"}, "max-trackers", true},
		{"max-trackers not a number", []string{"-max-trackers", "many"}, "max-trackers", false},
		{"lock-timeout negative", []string{"-lock-timeout", "-1s"}, "lock-timeout", true},
		{"lock-timeout not a duration", []string{"-lock-timeout", "soon"}, "lock-timeout", false},
		{"info-cache-size below 1 MiB", []string{"-info-cache-size", "512KiB"}, "info-cache-size", true},
		{"max-connections zero", []string{"-max-connections", "0"}, "max-connections", true},
		{"header-timeout zero", []string{"-header-timeout", "0s"}, "header-timeout", true},
		{"body-timeout below header-timeout", []string{"-body-timeout", "5s", "-header-timeout", "6s"}, "body-timeout", true},
		{"idle-timeout negative", []string{"-idle-timeout", "-1s"}, "idle-timeout", true},
		{"write-timeout zero", []string{"-write-timeout", "0s"}, "write-timeout", true},
		{"max-header-bytes below 1 KiB", []string{"-max-header-bytes", "512"}, "max-header-bytes", true},
		{"service-name with a slash", []string{"-service-name", "a/b"}, "service-name", true},
		{"service-name empty", []string{"-service-name", ""}, "service-name", true},
		{"service-name dot-dot", []string{"-service-name", ".."}, "service-name", true},
		{"service-name with a backslash", []string{"-service-name", `a\b`}, "service-name", true},
		{"cache empty", []string{"-cache", ""}, "cache", true},
		{"base-url ftp", []string{"-base-url", "ftp://mirror.example/"}, "base-url", true},
		{"base-url without host", []string{"-base-url", "https:///x"}, "base-url", true},
		{"base-url with a query", []string{"-base-url", "https://mirror.example/?a=b"}, "base-url", true},
		{"base-url with a fragment", []string{"-base-url", "https://mirror.example/#top"}, "base-url", true},
		{"mirror ftp", []string{"-mirror", "ftp://a.example"}, "mirror", true},
		{"mirror with a query", []string{"-mirror", "https://a.example/?q=1"}, "mirror", true},
		{"mirror without scheme", []string{"-mirror", "a.example"}, "mirror", true},
		{"dht-node without port", []string{"-dht-node", "router.example"}, "dht-node", true},
		{"dht-node port zero", []string{"-dht-node", "router.example:0"}, "dht-node", true},
		{"dht-node port too high", []string{"-dht-node", "router.example:70000"}, "dht-node", true},
		{"dht-node without host", []string{"-dht-node", ":6881"}, "dht-node", true},
		{"dht-node host with a space", []string{"-dht-node", "a b:6881"}, "dht-node", true},
		{"http and fcgi both", []string{"-root", dir, "-http", ":8080", "-fcgi", ":9000"}, "http and fcgi", true},
		{"http without root", []string{"-http", ":8080"}, "root", true},
		{"root missing", []string{"-root", filepath.Join(dir, "missing")}, "root", true},
		{"root a file", []string{"-root", file}, "root", true},
		{"log-level unknown", []string{"-log-level", "loud"}, "log-level", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, tt.args, tt.names, tt.prefix)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		names   string
	}{
		{"bad piece length", "piece-length = lots\n", "piece-length"},
		{"piece length not a power of two", "piece-length = 100KiB\n", "piece-length"},
		{"bad format", "format = zip\n", "format"},
		{"negative revalidate", "revalidate = -5m\n", "revalidate"},
		{"bad revalidate", "revalidate = often\n", "revalidate"},
		{"root missing", "root = /nonexistent/pkgtorrent/root\n", "root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := writeConfig(t, tt.content)
			checkError(t, []string{"-config", name}, tt.names, false)
		})
	}
}

func checkError(t *testing.T, args []string, names string, prefix bool) {
	t.Helper()
	var usage bytes.Buffer
	_, err := Load(args, &usage)
	if err == nil {
		t.Fatalf("Load(%q) error = nil, want one naming %q", args, names)
	}
	if prefix && !strings.HasPrefix(err.Error(), names) {
		t.Errorf("Load(%q) error = %q, want it to start with %q", args, err, names)
	}
	if !strings.Contains(err.Error(), names) {
		t.Errorf("Load(%q) error = %q, want it to name %q", args, err, names)
	}
}

func TestLoadHelp(t *testing.T) {
	var usage bytes.Buffer
	_, err := Load([]string{"-h"}, &usage)
	if !errors.Is(err, ErrHelp) {
		t.Errorf("Load(-h) error = %v, want %v", err, ErrHelp)
	}
	for _, name := range Names() {
		// "-name value", or "-name" alone for a boolean.
		if !strings.Contains(usage.String(), "\n  -"+name+" ") && !strings.Contains(usage.String(), "\n  -"+name+"\n") {
			t.Errorf("usage text does not list -%s:\n%s", name, usage.String())
		}
	}
}
