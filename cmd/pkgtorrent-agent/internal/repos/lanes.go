package repos

import (
	"strconv"
	"strings"
)

// MaxLanes is the most agent URLs a repo's baseurl gets for one mirror.
// librepo sends at most 3 downloads at once to one URL of a baseurl
// (max_downloads_per_mirror) and the rest to the next URL: with
// max_parallel_downloads = n, a repo needs ceil(n/3) agent URLs, the
// lanes, for all its downloads to go through the agent. dnf allows n up
// to 20.
const MaxLanes = 7

// Lanes is the number of agent URLs a repo's baseurl needs for dnf's
// max_parallel_downloads n: ceil(n/3), from 1 to MaxLanes.
func Lanes(n int) int { return min(MaxLanes, max(1, (n+2)/3)) }

// AgentURL is the agent's URL for mirror URL m (http or https), dnf
// variables and all, in lane 1: base/m/{scheme}/{rest}.
func AgentURL(base, m string) string { return LaneURL(base, 1, m) }

// LaneURL is AgentURL in lane n: /m/ for lane 1, /m{n}/ for the others.
// The agent serves every lane alike; they differ only for librepo.
func LaneURL(base string, n int, m string) string {
	scheme, rest, _ := strings.Cut(m, "://")
	prefix := "/m/"
	if n > 1 {
		prefix = "/m" + strconv.Itoa(n) + "/"
	}
	return base + prefix + strings.ToLower(scheme) + "/" + rest
}

// laneOf is the lane of agent URL u: 1 for /m/, n for /m{n}/.
func laneOf(u string) int {
	_, rest, _ := strings.Cut(u, "://")
	if _, p, ok := strings.Cut(rest, "/"); ok && len(p) > 2 && p[0] == 'm' && p[1] >= '2' && p[1] <= '9' {
		return int(p[1] - '0')
	}
	return 1
}

// AgentPath is what follows the lane prefix (/m/, or /m2/ to /m9/) of an
// agent URL's path p; false when p has none.
func AgentPath(p string) (string, bool) {
	if rest, ok := strings.CutPrefix(p, "/m/"); ok {
		return rest, true
	}
	if len(p) >= 4 && p[:2] == "/m" && p[2] >= '2' && p[2] <= '9' && p[3] == '/' {
		return p[4:], true
	}
	return "", false
}
