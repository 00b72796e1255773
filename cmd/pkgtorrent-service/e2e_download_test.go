package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// e2eDownloadTimeout bounds one client's download of one torrent.
const e2eDownloadTimeout = 60 * time.Second

// e2eTestDownloads downloads a padded multi-file torrent (all sample
// packages, as yum-torrent asks for them) and a single-file torrent with
// aria2 and with libtorrent, from the web seed alone, through nginx and
// through Apache, in both formats, and compares the files with the
// originals byte for byte. The access logs show who fetched padding from
// the service: with format = bep47 libtorrent fetches none, and aria2,
// which ignores BEP 47, fetches it (answered 200 or 206).
func e2eTestDownloads(t *testing.T) {
	aria2 := e2e.Need(t, "aria2c")
	python := e2e.Need(t, "libtorrent")
	mirror := e2eMirror(t)
	for _, format := range []string{"pkgtorrent", "bep47"} {
		for _, server := range []struct {
			name  string
			start func(*testing.T, e2eServerOpts) *e2eServer
		}{{"nginx", e2eNginx}, {"apache", e2eApache}} {
			t.Run(format+"/"+server.name, func(t *testing.T) {
				s := server.start(t, e2eServerOpts{mirror: mirror, settings: []string{"format = " + format}})
				dir := t.TempDir()
				multi := s.yumFlow(t, e2eSampleRPMs())
				e2eCheckPadding(t, multi, format)
				single := s.single(t, s.base, "yum/iso/boot.iso")
				torrents := []struct {
					what string
					tt   *e2eTorrent
					file string
				}{
					{"multi-file torrent of the packages", multi, filepath.Join(dir, "multi.torrent")},
					{"single-file torrent of boot.iso", single, filepath.Join(dir, "single.torrent")},
				}
				for _, tr := range torrents {
					e2e.WriteFile(t, tr.file, string(tr.tt.raw))
				}

				for _, tr := range torrents {
					t.Run("aria2/"+strings.Fields(tr.what)[0], func(t *testing.T) {
						out := t.TempDir()
						log := filepath.Join(t.TempDir(), "aria2.log")
						e2e.ShowLogOnFailure(t, "aria2c", log)
						off := e2e.Size(t, s.accessLog)
						_, err := e2e.Run(t, e2eDownloadTimeout, log, aria2, e2eAria2Args(t, out, tr.file)...)
						if err != nil {
							t.Fatalf("aria2c %s: %v", tr.what, err)
						}
						e2eSameFiles(t, "aria2", tr.tt, out)
						e2eCheckLog(t, s, off, "aria2", tr.tt.multi())
					})
				}

				for _, tr := range torrents {
					t.Run("libtorrent/"+strings.Fields(tr.what)[0], func(t *testing.T) {
						out := t.TempDir()
						off := e2e.Size(t, s.accessLog)
						res := e2eLibtorrent(t, python, "download", tr.file, out)
						if res.InfoHash != tr.tt.infoHash {
							t.Errorf("libtorrent reports info hash %s, the torrent's is %s", res.InfoHash, tr.tt.infoHash)
						}
						e2eSameFiles(t, "libtorrent", tr.tt, out)
						// libtorrent knows BEP 47: with bep47 it makes the
						// padding up; with pkgtorrent the padding entries are
						// files to it, and it fetches them from the service.
						e2eCheckLog(t, s, off, "libtorrent", tr.tt.multi() && format == "pkgtorrent")
					})
				}
			})
		}
	}
}

// e2eCheckPadding checks that a multi-file torrent of the sample packages
// has padding entries, marked with attr "p" only in the bep47 format.
func e2eCheckPadding(t *testing.T, tt *e2eTorrent, format string) {
	t.Helper()
	pads := 0
	for _, f := range tt.files {
		if !strings.HasPrefix(f.path, e2eService+"/nullfile/") {
			if f.attr != "" {
				t.Errorf("file %s has attr %q, want none", f.path, f.attr)
			}
			continue
		}
		pads++
		if want := map[string]string{"bep47": "p", "pkgtorrent": ""}[format]; f.attr != want {
			t.Errorf("format %s: padding entry %s has attr %q, want %q", format, f.path, f.attr, want)
		}
	}
	if pads == 0 {
		t.Fatalf("the multi-file torrent has no padding entries: %v", tt.files)
	}
}

// e2eAria2Args returns aria2c's arguments for a download from the web
// seed alone, into dir.
func e2eAria2Args(t *testing.T, dir, torrent string) []string {
	return []string{
		"--no-conf=true",
		"--dir=" + dir,
		"--torrent-file=" + torrent,
		"--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--listen-port=" + strconv.Itoa(e2e.Port(t)),
		"--seed-time=0", "--follow-torrent=mem",
		"--bt-stop-timeout=" + strconv.Itoa(int(e2eDownloadTimeout.Seconds())),
		"--file-allocation=none", "--auto-file-renaming=false", "--allow-overwrite=true",
		"--max-tries=3", "--retry-wait=1",
		"--summary-interval=0", "--console-log-level=warn",
	}
}

// e2eSameFiles compares the real files of tt, downloaded into dir, with
// the sample mirror's.
func e2eSameFiles(t *testing.T, who string, tt *e2eTorrent, dir string) {
	t.Helper()
	if !tt.multi() {
		// The web seed names the file's folder: {base}/{dir}/.
		u, err := url.Parse(tt.urlList[0])
		if err != nil {
			t.Fatal(err)
		}
		e2eSameFile(t, who, filepath.Join(dir, tt.name), strings.TrimPrefix(u.Path, "/")+tt.name)
		return
	}
	files := tt.realFiles(e2eService)
	if len(files) == 0 {
		t.Fatal("torrent without files")
	}
	for _, f := range files {
		e2eSameFile(t, who, filepath.Join(dir, tt.name, filepath.FromSlash(f)), tt.name+"/"+f)
	}
}

// e2eCheckLog checks the access log lines written since off, all by the
// one client that ran since (agent names it; libtorrent sends its
// User-Agent only on the first request of a connection): it fetched the
// files from the web server, every answer was 200 or 206, and it fetched
// padding from the service exactly when wantNullfile.
func e2eCheckLog(t *testing.T, s *e2eServer, off int64, agent string, wantNullfile bool) {
	t.Helper()
	var files, nulls int
	for _, l := range e2e.AccessLog(t, s.accessLog, off) {
		if l.Status != 200 && l.Status != 206 {
			t.Errorf("%s: %s %s answered %d, want 200 or 206", s.name, l.Method, l.URI, l.Status)
		}
		if strings.Contains(l.URI, "/"+e2eService+"/nullfile/") {
			nulls++
		} else {
			files++
		}
	}
	if files == 0 {
		t.Errorf("%s's access log shows no request of %s for the files: not downloaded from the web seed?", s.name, agent)
	}
	switch {
	case wantNullfile && nulls == 0:
		t.Errorf("%s's access log shows no nullfile request of %s: want the padding fetched from the service", s.name, agent)
	case !wantNullfile && nulls > 0:
		t.Errorf("%s's access log shows %d nullfile requests of %s: want none", s.name, nulls, agent)
	}
}

// e2eLtResult is what testdata/ltclient.py reports.
type e2eLtResult struct {
	Event                string   `json:"event"`
	InfoHash             string   `json:"info_hash"`
	TotalSize            int64    `json:"total_size"`
	TotalWanted          int64    `json:"total_wanted"`
	TotalWantedDone      int64    `json:"total_wanted_done"`
	TotalPayloadDownload int64    `json:"total_payload_download"`
	TotalFailedBytes     int64    `json:"total_failed_bytes"`
	TotalRedundantBytes  int64    `json:"total_redundant_bytes"`
	NumPieces            int      `json:"num_pieces"`
	PiecesDone           int      `json:"pieces_done"`
	IsSeeding            bool     `json:"is_seeding"`
	URLSeeds             []string `json:"url_seeds"`
	WebSeedsInTorrent    []string `json:"web_seeds_in_torrent"`
	Trackers             []string `json:"trackers"`
	TrackerReplies       int      `json:"tracker_replies"`
	Peers                []struct {
		Endpoint   string   `json:"endpoint"`
		Kind       string   `json:"kind"`
		Sources    []string `json:"sources"`
		Incoming   bool     `json:"incoming"`
		Downloaded int64    `json:"downloaded"`
	} `json:"peers"`
	BlocksFrom map[string]int `json:"blocks_from"`
	Errors     []string       `json:"errors"`
	TimedOut   bool           `json:"timed_out"`
	Version    string         `json:"libtorrent"`
	rawOutput  string
}

// e2eLibtorrent runs testdata/ltclient.py download and returns its
// report, failing the test unless the download completed. extra are more
// flags of ltclient.py.
func e2eLibtorrent(t *testing.T, python, mode, torrent, save string, extra ...string) *e2eLtResult {
	t.Helper()
	log := filepath.Join(t.TempDir(), "libtorrent.log")
	e2e.ShowLogOnFailure(t, "libtorrent client", log)
	args := []string{"testdata/ltclient.py", mode, "--torrent", torrent, "--save", save,
		"--port", strconv.Itoa(e2e.Port(t)), "--timeout", strconv.Itoa(int(e2eDownloadTimeout.Seconds()))}
	args = append(args, extra...)
	out, err := e2e.Run(t, e2eDownloadTimeout+15*time.Second, log, python, args...)
	res, perr := e2eParseLt(out)
	if err != nil || perr != nil {
		t.Fatalf("libtorrent %s %s: %v (report: %v) %s", mode, filepath.Base(torrent), err, perr, out)
	}
	if !res.IsSeeding || res.TotalWantedDone != res.TotalWanted || res.PiecesDone != res.NumPieces {
		t.Fatalf("libtorrent did not complete %s: %d of %d bytes, %d of %d pieces", filepath.Base(torrent),
			res.TotalWantedDone, res.TotalWanted, res.PiecesDone, res.NumPieces)
	}
	return res
}

func e2eParseLt(out []byte) (*e2eLtResult, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res e2eLtResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return nil, fmt.Errorf("ltclient.py printed no report: %w", err)
	}
	res.rawOutput = string(out)
	return &res, nil
}
