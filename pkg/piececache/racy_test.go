package piececache

import (
	"testing"
	"time"
)

func TestRacy(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 500_000_000, time.UTC)
	ns := func(d time.Duration) int64 { return at.Add(d).UnixNano() }
	whole := func(d time.Duration) int64 { return at.Add(d).Truncate(time.Second).UnixNano() }
	long := -time.Hour
	for _, tc := range []struct {
		name string
		st   Stamp
		want bool
	}{
		{"nanosecond ctime 5 ms before", Stamp{MtimeNs: ns(long), CtimeNs: ns(-5 * time.Millisecond)}, true},
		{"nanosecond ctime 50 ms before", Stamp{MtimeNs: ns(long), CtimeNs: ns(-50 * time.Millisecond)}, false},
		{"nanosecond ctime 5 ms after", Stamp{MtimeNs: ns(long), CtimeNs: ns(5 * time.Millisecond)}, true},
		{"nanosecond mtime 5 ms before", Stamp{MtimeNs: ns(-5 * time.Millisecond), CtimeNs: ns(-40 * time.Millisecond)}, true},
		{"whole-second mtime 1 s before, nanosecond ctime long ago", Stamp{MtimeNs: whole(-time.Second), CtimeNs: ns(long)}, false},
		{"whole-second ctime, the same second", Stamp{MtimeNs: whole(long), CtimeNs: whole(0)}, true},
		{"whole-second ctime 1 s before", Stamp{MtimeNs: whole(long), CtimeNs: whole(-time.Second)}, true},
		{"whole-second ctime 3 s before", Stamp{MtimeNs: whole(long), CtimeNs: whole(-3 * time.Second)}, false},
		{"whole-second mtime an hour ahead, ctime long ago", Stamp{MtimeNs: whole(time.Hour), CtimeNs: whole(long)}, false},
	} {
		if got := tc.st.Racy(at); got != tc.want {
			t.Errorf("%s: Racy = %v, want %v (granularity %v)", tc.name, got, tc.want, tc.st.Granularity())
		}
	}
}
