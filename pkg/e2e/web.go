package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The service's configurations for the web servers, as shipped.
const (
	NginxConf     = "httpd-conf/nginx-pkgtorrent-service.conf"
	NginxHTTPConf = "httpd-conf/nginx-pkgtorrent-service-http.conf" // the http {} part: upstream and cache
	ApacheConf    = "httpd-conf/apache-pkgtorrent-service.conf"
	// ServiceName is the service name the configurations use.
	ServiceName = "torrent_service"
)

// Web is a running web server in front of the service.
type Web struct {
	Name     string // nginx or apache
	Base     string // http://addr:port
	TLSBase  string // https://addr:port
	CertFile string // the HTTPS certificate, its own CA
	// ClientCerts, when WebOptions.ClientCerts was set: the CA whose
	// client certificates the HTTPS port requires, and one of them (which
	// Client presents).
	ClientCerts *ClientCerts
	AccessLog   string // see AccessLog for its lines
	ServiceLog  string // where the service's stderr goes
	Client      *http.Client
	Service     *Proc // the service, when the test's harness started it
}

// WebOptions configure a web server and the service behind it.
type WebOptions struct {
	Root string // the document root
	// Service is the service binary; with nginx, unless Socket is set,
	// it runs as `-fcgi unix:...`, with Apache mod_fcgid starts it.
	Service string
	// Settings are extra "key = value" lines of the service's settings
	// file (see ServiceSettings); Trackers the lines of its trackers file.
	Settings, Trackers []string
	// Socket, for nginx: pass requests to this already listening FastCGI
	// socket instead of starting the service.
	Socket string
	// Node is where the servers run and listen (the zero Node: loopback).
	Node Node
	// Ready is the URL path that must answer 200 on both ports before
	// StartNginx or StartApache returns.
	Ready string
	// ClientCerts, for nginx: the HTTPS port asks for a client certificate
	// of a CA of the test (Web.ClientCerts) and answers 403 to a request
	// without a valid one (ssl_verify_client optional, then a 403 on
	// $ssl_client_verify: "on" would answer 400); the HTTP port does not.
	ClientCerts bool
}

// ServiceSettings writes the service's settings file into dir, with its
// own cache, its own trackers file of the lines trackers, debug logging,
// and the extra lines (later lines win), and returns its path.
func ServiceSettings(t testing.TB, dir string, trackers []string, extra ...string) string {
	t.Helper()
	cache := Writable(t, filepath.Join(dir, "cache"))
	tf := filepath.Join(dir, "trackers")
	WriteFile(t, tf, strings.Join(append([]string{"# announce URLs of the test"}, trackers...), "\n")+"\n")
	lines := append([]string{"cache = " + cache, "trackers = " + tf, "log-level = debug"}, extra...)
	path := filepath.Join(dir, "service-settings.conf")
	WriteFile(t, path, strings.Join(lines, "\n")+"\n")
	return path
}

// shipped reads a file of httpd-conf/ and returns its text.
func shipped(t testing.TB, rel string) (path, text string) {
	t.Helper()
	path = Path(t, rel)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

// StartNginx starts nginx (and, unless o.Socket is set, the service with
// -fcgi unix:... and a data race check of its log) serving o.Root on two
// ports, HTTP and HTTPS, under the shipped httpd-conf/ snippets with only
// the socket and cache paths substituted. Its access log has the lines
// that AccessLog reads.
func StartNginx(t testing.TB, o WebOptions) *Web {
	t.Helper()
	nginx := Need(t, "nginx")
	dir := SharedDir(t, "nginx")
	addr := o.Node.Addr()
	w := &Web{Name: "nginx", AccessLog: filepath.Join(dir, "access.log")}

	var procs []*Proc
	sock := o.Socket
	if sock == "" {
		sock = filepath.Join(dir, "fcgi.sock")
		settings := ServiceSettings(t, dir, o.Trackers, o.Settings...)
		w.ServiceLog = filepath.Join(dir, "service.log")
		w.Service = Start(t, "pkgtorrent-service -fcgi", o.Node.Command(nil, o.Service, "-config", settings, "-fcgi", "unix:"+sock), w.ServiceLog)
		CheckRaces(t, "pkgtorrent-service", w.ServiceLog)
		Wait(t, "the service's FastCGI socket", 20*time.Second, func() error {
			fi, err := os.Stat(sock)
			if err == nil && fi.Mode()&os.ModeSocket == 0 {
				err = fmt.Errorf("%s is not a socket", sock)
			}
			return err
		}, w.Service)
		procs = append(procs, w.Service)
	}

	// The operator's snippet, and its http {} part talking to the test's
	// socket. The snippet includes fastcgi_params relative to the
	// configuration's folder, as from /etc/nginx: the test uses the
	// installed one.
	_, snippet := shipped(t, NginxConf)
	WriteFile(t, filepath.Join(dir, "nginx-pkgtorrent-service.conf"), snippet)
	file, httpPart := shipped(t, NginxHTTPConf)
	WriteFile(t, filepath.Join(dir, "nginx-pkgtorrent-service-http.conf"), Replace(t, file, httpPart,
		"unix:/run/pkgtorrent-service.sock", "unix:"+sock,
		"/var/lib/nginx/pkgtorrent-service ", filepath.Join(dir, "fastcgi-cache")+" "))
	params, err := os.ReadFile("/etc/nginx/fastcgi_params")
	if err != nil {
		t.Fatalf("nginx's fastcgi_params: %v: install the Debian package nginx-light (`make deps` installs it)", err)
	}
	WriteFile(t, filepath.Join(dir, "fastcgi_params"), string(params))

	certFile, keyFile, pool := Cert(t, dir, addr)
	port, tlsPort := o.Node.Port(t), o.Node.Port(t)
	w.Base, w.TLSBase, w.CertFile = o.Node.URL("http", port), o.Node.URL("https", tlsPort), certFile
	w.Client = Client(t, pool)
	clientTLS, clientMap := "", ""
	if o.ClientCerts {
		w.ClientCerts = NewClientCerts(t, dir)
		w.Client = Client(t, pool, w.ClientCerts.Cert)
		clientMap = "map $ssl_client_verify $pt_no_client_cert { default 1; SUCCESS 0; \"\" 0; }"
		clientTLS = fmt.Sprintf("ssl_client_certificate %s;\n        ssl_verify_client optional;\n        if ($pt_no_client_cert) { return 403; }", w.ClientCerts.CAFile)
	}
	userLine := ""
	if u := WebUser(t); u != nil {
		userLine = fmt.Sprintf("user %s;", u.Username)
	}
	tmp := Writable(t, filepath.Join(dir, "tmp"))
	errorLog := filepath.Join(dir, "error.log")
	conf := fmt.Sprintf(`# Scaffolding of the test; the service's part is included.
daemon off;
master_process on;
worker_processes 1;
%[1]s
pid %[2]s/nginx.pid;
error_log %[3]s info;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format e2e '$remote_addr $scheme $upstream_cache_status "$request" $status $body_bytes_sent "$http_user_agent"';
    access_log %[4]s e2e;
    client_body_temp_path %[5]s/body;
    fastcgi_temp_path %[5]s/fastcgi;
    proxy_temp_path %[5]s/proxy;
    uwsgi_temp_path %[5]s/uwsgi;
    scgi_temp_path %[5]s/scgi;
    include nginx-pkgtorrent-service-http.conf;
    %[12]s
    server {
        listen %[11]s:%[6]d;
        listen %[11]s:%[7]d ssl;
        ssl_certificate %[8]s;
        ssl_certificate_key %[9]s;
        %[13]s
        server_name localhost;
        root %[10]s;
        include nginx-pkgtorrent-service.conf;
    }
}
`, userLine, dir, errorLog, w.AccessLog, tmp, port, tlsPort, certFile, keyFile, o.Root, addr, clientMap, clientTLS)
	confFile := filepath.Join(dir, "nginx.conf")
	WriteFile(t, confFile, conf)
	ShowLogOnFailure(t, "nginx error log", errorLog)
	p := Start(t, "nginx", o.Node.Command(nil, nginx, "-p", dir+"/", "-c", confFile, "-e", errorLog), filepath.Join(dir, "nginx.out"))
	w.waitReady(t, o.Ready, append(procs, p)...)
	return w
}

// StartApache starts Apache with mod_fcgid, which starts the service
// o.Service as its FastCGI program, serving o.Root on two loopback
// ports, HTTP and HTTPS, under the shipped httpd-conf/ file with only the
// binary's and settings' paths substituted. The service's log is Apache's
// error log.
func StartApache(t testing.TB, o WebOptions) *Web {
	t.Helper()
	apache := Need(t, "apache2")
	fcgid := Need(t, "mod_fcgid")
	dir := SharedDir(t, "apache")
	settings := ServiceSettings(t, dir, o.Trackers, o.Settings...)
	w := &Web{Name: "apache", AccessLog: filepath.Join(dir, "access.log"), ServiceLog: filepath.Join(dir, "error.log")}

	file, conf := shipped(t, ApacheConf)
	WriteFile(t, filepath.Join(dir, "apache-pkgtorrent-service.conf"), Replace(t, file, conf,
		"/usr/bin/pkgtorrent-service", o.Service,
		"/etc/pkgtorrent-service.conf", settings))

	certFile, keyFile, pool := Cert(t, dir, "127.0.0.1")
	port, tlsPort := Port(t), Port(t)
	w.Base, w.TLSBase, w.CertFile = Node{}.URL("http", port), Node{}.URL("https", tlsPort), certFile
	w.Client = Client(t, pool)
	userLines := ""
	if u := WebUser(t); u != nil {
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		userLines = fmt.Sprintf("User %s\nGroup %s", u.Username, g.Name)
	}
	modules := filepath.Dir(fcgid)
	fcgidDir := Writable(t, filepath.Join(dir, "fcgid"))
	Writable(t, filepath.Join(dir, "run"))
	main := fmt.Sprintf(`# Scaffolding of the test; the service's part is included.
ServerRoot "%[1]s"
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
PidFile "%[1]s/apache.pid"
DefaultRuntimeDir "%[1]s/run"
ErrorLog "%[1]s/error.log"
LogLevel info
LoadModule mpm_event_module %[4]s/mod_mpm_event.so
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule ssl_module %[4]s/mod_ssl.so
LoadModule fcgid_module %[5]s
%[6]s
ServerName 127.0.0.1
DocumentRoot "%[7]s"
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory "%[7]s">
    Require all granted
    Options None
</Directory>
LogFormat "%%h \"%%r\" %%>s %%B \"%%{User-Agent}i\"" e2e
CustomLog "%[1]s/access.log" e2e
FcgidIPCDir "%[8]s"
FcgidProcessTableFile "%[8]s/shm"
<VirtualHost 127.0.0.1:%[3]d>
    SSLEngine on
    SSLCertificateFile "%[9]s"
    SSLCertificateKeyFile "%[10]s"
</VirtualHost>
Include "%[1]s/apache-pkgtorrent-service.conf"
`, dir, port, tlsPort, modules, fcgid, userLines, o.Root, fcgidDir, certFile, keyFile)
	confFile := filepath.Join(dir, "httpd.conf")
	WriteFile(t, confFile, main)
	ShowLogOnFailure(t, "apache error log (with the service's log)", w.ServiceLog)
	CheckRaces(t, "pkgtorrent-service", w.ServiceLog)
	p := Start(t, "apache2", Node{}.Command(nil, apache, "-f", confFile, "-DFOREGROUND"), filepath.Join(dir, "apache.out"))
	w.waitReady(t, o.Ready, p)
	return w
}

// waitReady waits until the server answers 200 to GET path on both ports.
func (w *Web) waitReady(t testing.TB, path string, procs ...*Proc) {
	t.Helper()
	for _, base := range []string{w.Base, w.TLSBase} {
		u := base + path
		Wait(t, w.Name+" on "+base, 20*time.Second, func() error {
			resp, err := w.Client.Get(u)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", u, resp.Status)
			}
			return nil
		}, procs...)
	}
}
