package agent

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"

	"github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent/internal/settings"
)

// TestFillRanksAmongCountedHosts: a download that finds no peer connected
// while its trackers count other hosts in the swarm (hosts that started
// together and are still connecting) waits for them, then ranks itself
// among them, leaving them their turn for the pieces, instead of fetching
// every piece at once; counted alone, it fetches every piece in order at
// once. Either way the
// file comes whole through the torrent, nothing streamed around it. The
// tracker here names no peer and counts what the test says.
func TestFillRanksAmongCountedHosts(t *testing.T) {
	root := t.TempDir()
	want := writeRandom(t, root, pkgDir+"r-1-1.noarch.rpm", 1<<20)
	m := startMirrorWith(t, root, []string{"-piece-length", "64KiB"})
	for _, tc := range []struct {
		count int
		want  string
	}{
		{10, "peers_known=true swarm=10"},
		{1, "peers_known=false swarm=1"},
	} {
		t.Run(strconv.Itoa(tc.count), func(t *testing.T) {
			tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var answer any
				switch r.URL.Path {
				case "/announce":
					answer = map[string]any{"interval": 1800, "peers": ""}
				case "/scrape":
					answer = map[string]any{"files": map[string]any{
						r.URL.Query().Get("info_hash"): map[string]int{"complete": 0, "downloaded": 0, "incomplete": tc.count},
					}}
				default:
					http.NotFound(w, r)
					return
				}
				b, err := bencode.Marshal(answer)
				if err != nil {
					t.Error(err)
				}
				w.Write(b)
			}))
			defer tracker.Close()
			a := startAgent(t, t.TempDir(), []string{m.base}, func(c *settings.Config) {
				c.Trackers = []string{tracker.URL + "/announce"}
			})
			getWhole(t, "agent", a.url(m.base+"/"+pkgDir+"r-1-1.noarch.rpm"), want)
			var fill string
			for _, line := range strings.Split(a.logText(), "\n") {
				if strings.Contains(line, `msg="origin fill"`) {
					fill = line
				}
			}
			if !strings.Contains(fill, tc.want) {
				t.Errorf("the trackers counting %d hosts and no peer connected: the fill started with %q, want %s", tc.count, fill, tc.want)
			}
			if st := a.swarm.Status().Totals; st.FromFallback != 0 || st.FromOrigin != int64(len(want)) {
				t.Errorf("%+v, want the whole file through the torrent's fill", st)
			}
		})
	}
}
