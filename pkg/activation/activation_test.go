package activation

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary runs itself as the activated child: it takes its
// sockets and answers one connection on each with the socket's name.
func TestMain(m *testing.M) {
	if os.Getenv("ACTIVATION_TEST_CHILD") == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

func child() int {
	if os.Getenv("ACTIVATION_TEST_SET_PID") == "1" {
		os.Setenv("LISTEN_PID", fmt.Sprint(os.Getpid()))
	}
	ls, err := Listeners()
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	if _, again := os.LookupEnv("LISTEN_FDS"); again {
		fmt.Println("error: LISTEN_FDS still set")
		return 0
	}
	for _, l := range ls {
		c, err := l.Accept()
		if err != nil {
			fmt.Println("error:", err)
			return 0
		}
		fmt.Fprint(c, l.Name)
		c.Close()
		l.Close()
	}
	fmt.Println("served", len(ls))
	return 0
}

// activate runs the child with the listeners' files from descriptor 3 on
// and the given environment, and returns its output.
func activate(t *testing.T, files []*os.File, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"ACTIVATION_TEST_CHILD=1"}, env...)...)
	cmd.ExtraFiles = files
	return cmd
}

func listen(t *testing.T) (*net.TCPListener, *os.File) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return l.(*net.TCPListener), f
}

func TestListeners(t *testing.T) {
	l1, f1 := listen(t)
	l2, f2 := listen(t)
	cmd := activate(t, []*os.File{f1, f2}, "ACTIVATION_TEST_SET_PID=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=http:")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range []*net.TCPListener{l1, l2} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := c.Read(b)
		c.Close()
		got = append(got, string(b[:n]))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"http", "unknown"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("names answered = %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "served 2") {
		t.Errorf("child said %q, want it to serve 2 sockets", out.String())
	}
}

func TestListenersRefused(t *testing.T) {
	_, f := listen(t)
	notSocket, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer notSocket.Close()
	for _, tc := range []struct {
		name  string
		files []*os.File
		env   []string
		want  string
	}{
		{"none", nil, nil, ErrNotActivated.Error()},
		{"other-pid", []*os.File{f}, []string{"LISTEN_PID=1", "LISTEN_FDS=1"}, "is not this process"},
		{"bad-count", []*os.File{f}, []string{"ACTIVATION_TEST_SET_PID=1", "LISTEN_FDS=x"}, "want 1 to 64 sockets"},
		{"too-many", []*os.File{f}, []string{"ACTIVATION_TEST_SET_PID=1", "LISTEN_FDS=65"}, "want 1 to 64 sockets"},
		{"not-a-socket", []*os.File{notSocket}, []string{"ACTIVATION_TEST_SET_PID=1", "LISTEN_FDS=1"}, "socket 3 (unknown) from systemd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := activate(t, tc.files, tc.env...).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), "error: ") || !strings.Contains(string(out), tc.want) {
				t.Errorf("child said %q, want an error with %q", out, tc.want)
			}
		})
	}
}
