package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestLockTimeoutAndMaxWalk(t *testing.T) {
	c, err := Load(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.LockTimeout != 25*time.Second || c.MaxWalk != 1000000 {
		t.Errorf("defaults: lock-timeout %v, max-walk %d; want 25s and 1000000", c.LockTimeout, c.MaxWalk)
	}
	c, err = Load([]string{"-lock-timeout", "3s", "-max-walk", "500", "-max-files", "20"}, io.Discard)
	if err != nil || c.LockTimeout != 3*time.Second || c.MaxWalk != 500 || c.MaxFiles != 20 {
		t.Errorf("flags: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-lock-timeout", "-1s"}, "lock-timeout"},
		{[]string{"-lock-timeout", "soon"}, "lock-timeout"},
		{[]string{"-max-walk", "9", "-max-files", "10"}, "max-walk"},
		{[]string{"-max-walk", "x"}, "max-walk"},
	} {
		if _, err := Load(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
