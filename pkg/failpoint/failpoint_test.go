package failpoint

import "testing"

func TestEnable(t *testing.T) {
	var got []string
	Hit(HashHalf, "before") // disabled: nothing happens
	disable := Enable(HashHalf, func(arg string) { got = append(got, arg) })
	if !Enabled() {
		t.Fatal("Enabled() = false after Enable")
	}
	Hit(HashHalf, "a")
	Hit(Hashed, "other failpoint")
	disable()
	Hit(HashHalf, "after")
	if len(got) != 1 || got[0] != "a" {
		t.Errorf("action saw %q, want [a]", got)
	}
	if Enabled() {
		t.Error("Enabled() = true after the only failpoint was disabled")
	}
}
