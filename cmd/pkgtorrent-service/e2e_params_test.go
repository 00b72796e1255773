package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// e2eTestNginxParams checks what nginx's snippet hands to the FastCGI
// program, with a recorder in its place (net/http/fcgi hides SCRIPT_NAME
// and PATH_INFO): the locations it sends, SCRIPT_NAME, PATH_INFO,
// DOCUMENT_ROOT, HTTPS, SERVER_PORT and REQUEST_URI; and that it keeps
// its FastCGI connection from one request to the next (the upstream's
// keepalive and fastcgi_keep_conn).
func e2eTestNginxParams(t *testing.T) {
	mirror := e2eMirror(t)
	dir := filepath.Join(t.TempDir(), "recorder")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e2e.Share(t, dir)
	sock := filepath.Join(dir, "params.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	params := e2eFCGIRecorder(t, l)
	s := e2eNginx(t, e2eServerOpts{mirror: mirror, socket: sock})
	port := func(base string) string { return base[strings.LastIndex(base, ":")+1:] }
	digest := e2eDigest([]string{"/yum/iso/boot.iso"})

	for _, c := range []struct {
		url, script, pathInfo, https, port, requestURI string
	}{
		{s.base + e2eMount + "/digest/" + digest + "?a=1", e2eMount, "/digest/" + digest, "", port(s.base), e2eMount + "/digest/" + digest + "?a=1"},
		{s.tlsBase + e2eMount + "/digest/" + digest, e2eMount, "/digest/" + digest, "on", port(s.tlsBase), e2eMount + "/digest/" + digest},
		{s.base + "/other/" + e2eService + "/single/other/read%20me.txt", "/other/" + e2eService, "/single/other/read me.txt", "", port(s.base), "/other/" + e2eService + "/single/other/read%20me.txt"},
		{s.base + "/yum/" + e2eService, "/yum/" + e2eService, "", "", port(s.base), "/yum/" + e2eService},
	} {
		resp, body := s.get(t, c.url)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("GET %s: %s %q, want the recorder's 204", c.url, resp.Status, body)
			continue
		}
		var env map[string]string
		select {
		case env = <-params:
		case <-time.After(10 * time.Second):
			t.Fatalf("GET %s: the recorder got no request", c.url)
		}
		for k, want := range map[string]string{
			"SCRIPT_NAME":   c.script,
			"PATH_INFO":     c.pathInfo,
			"DOCUMENT_ROOT": mirror,
			"HTTPS":         c.https,
			"SERVER_PORT":   c.port,
			"REQUEST_URI":   c.requestURI,
		} {
			if env[k] != want {
				t.Errorf("GET %s: %s = %q, want %q", c.url, k, env[k], want)
			}
		}
		t.Logf("GET %s: HTTP_HOST %q SERVER_PORT %q", c.url, env["HTTP_HOST"], env["SERVER_PORT"])
		// One nginx worker, one request at a time: each reuses the
		// connection of the first.
		if env[e2eKeepConnKey] != "1" || env[e2eConnKey] != "1" {
			t.Errorf("GET %s: came on FastCGI connection %s with FCGI_KEEP_CONN %s, want the first connection, kept", c.url, env[e2eConnKey], env[e2eKeepConnKey])
		}
	}

	// Not the service's: the root itself, a name that only starts with
	// the service name, and anything deeper than the first folder.
	for _, p := range []string{"/" + e2eService + "/single/x", "/yum/" + e2eService + "x/single/x", "/yum/el9/" + e2eService + "/single/x"} {
		resp, _ := s.get(t, s.base+p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want nginx's own 404", p, resp.Status)
		}
	}
	select {
	case env := <-params:
		t.Errorf("nginx passed %s to the service, which is not under /{top}/%s/", env["REQUEST_URI"], e2eService)
	default:
	}
}

// e2eFCGIRecorder answers every FastCGI request on l with 204 No Content
// and sends its parameters to the returned channel, with two of its own:
// e2eConnKey, the number of the connection it came on (from 1), and
// e2eKeepConnKey, "1" when its FCGI_BEGIN_REQUEST asked to keep the
// connection (FCGI_KEEP_CONN), which the recorder then does.
func e2eFCGIRecorder(t *testing.T, l net.Listener) <-chan map[string]string {
	ch := make(chan map[string]string, 16)
	t.Cleanup(func() { l.Close() })
	go func() {
		for n := 1; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					env, err := e2eFCGIServe(c, r)
					if errors.Is(err, io.EOF) {
						return
					}
					if err != nil {
						env = map[string]string{"error": err.Error()}
					}
					env[e2eConnKey] = strconv.Itoa(n)
					select {
					case ch <- env:
					default:
					}
					if err != nil || env[e2eKeepConnKey] != "1" {
						return
					}
				}
			}()
		}
	}()
	return ch
}

// The recorder's own keys in the parameters it reports.
const (
	e2eConnKey     = "recorder.conn"
	e2eKeepConnKey = "recorder.keep_conn"
)

// FastCGI record types (the FastCGI specification, section 8).
const (
	fcgiBeginRequest = 1
	fcgiEndRequest   = 3
	fcgiParams       = 4
	fcgiStdin        = 5
	fcgiStdout       = 6

	fcgiKeepConn = 1 // flag of FCGI_BEGIN_REQUEST
)

// e2eFCGIServe reads one request's records from c (through r), answers
// 204 and returns its parameters. io.EOF: c ended before a request.
func e2eFCGIServe(c net.Conn, r *bufio.Reader) (map[string]string, error) {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var params []byte
	var id uint16
	keep := "0"
	for first := true; ; first = false {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if first && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading a record: %w", err)
		}
		typ, n, pad := h[1], int(binary.BigEndian.Uint16(h[4:6])), int(h[6])
		id = binary.BigEndian.Uint16(h[2:4])
		content := make([]byte, n+pad)
		if _, err := io.ReadFull(r, content); err != nil {
			return nil, err
		}
		switch typ {
		case fcgiBeginRequest:
			if n >= 3 && content[2]&fcgiKeepConn != 0 {
				keep = "1"
			}
		case fcgiParams:
			params = append(params, content[:n]...)
		case fcgiStdin:
			if n > 0 {
				continue
			}
			env, err := e2eFCGIPairs(params)
			if err != nil {
				return nil, err
			}
			env[e2eKeepConnKey] = keep
			write := func(typ byte, content []byte) error {
				h := [8]byte{1, typ}
				binary.BigEndian.PutUint16(h[2:4], id)
				binary.BigEndian.PutUint16(h[4:6], uint16(len(content)))
				_, err := c.Write(append(h[:], content...))
				return err
			}
			for _, rec := range []struct {
				typ     byte
				content []byte
			}{
				{fcgiStdout, []byte("Status: 204 No Content\r\n\r\n")},
				{fcgiStdout, nil},
				{fcgiEndRequest, make([]byte, 8)},
			} {
				if err := write(rec.typ, rec.content); err != nil {
					return nil, err
				}
			}
			return env, nil
		default:
			return nil, fmt.Errorf("unexpected FastCGI record type %d", typ)
		}
	}
}

// e2eFCGIPairs decodes FastCGI name-value pairs.
func e2eFCGIPairs(b []byte) (map[string]string, error) {
	env := make(map[string]string)
	length := func() (int, error) {
		if len(b) == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		if b[0]&0x80 == 0 {
			n := int(b[0])
			b = b[1:]
			return n, nil
		}
		if len(b) < 4 {
			return 0, io.ErrUnexpectedEOF
		}
		n := int(binary.BigEndian.Uint32(b) & 0x7fffffff)
		b = b[4:]
		return n, nil
	}
	for len(b) > 0 {
		kn, err := length()
		if err != nil {
			return nil, err
		}
		vn, err := length()
		if err != nil {
			return nil, err
		}
		if kn+vn > len(b) {
			return nil, io.ErrUnexpectedEOF
		}
		env[string(b[:kn])] = string(b[kn : kn+vn])
		b = b[kn+vn:]
	}
	return env, nil
}
