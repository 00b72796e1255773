package warm

import (
	"os"
	"syscall"
)

// ForeignOwner reports the owner of the cache folder dir when this
// process runs as root and dir belongs to another user. Entries that root
// writes there would be root's: the service, running as that user, could
// not replace them in their folders nor mark them used. warm should then
// run as that user. It reports false when dir does not exist yet.
func ForeignOwner(dir string) (uid int, foreign bool) {
	if os.Geteuid() != 0 {
		return 0, false
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return 0, false
	}
	return int(st.Uid), true
}
