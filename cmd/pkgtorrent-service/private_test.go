package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/e2e"
)

// TestPrivateWithRealClients runs the real binary over one cache without
// the private setting, with it, and without it again. libtorrent
// (torrent_info.priv) and Transmission (transmission-show) read each
// torrent (one file, a glob, a yum-torrent digest) as private exactly
// when the setting is on. Without it, the info hash libtorrent computes
// is the golden one of the independent reference, as before the setting
// existed; with it, another one, which names the file and is what the
// tracker's whitelist holds. libtorrent and aria2 still download a
// private torrent from its web seed.
func TestPrivateWithRealClients(t *testing.T) {
	python := e2e.Need(t, "libtorrent")
	show := e2e.Need(t, "transmission-show")
	aria2 := e2e.Need(t, "aria2c")
	root, cache, trackers := mirror(t)
	form := url.Values{"p": goldenAllPackages}
	digest := "/digest/" + e2eDigest(goldenAllPackages)
	cases := []struct {
		name, path, golden string
	}{
		{"one file", "/single/yum/iso/boot.iso", "single-boot-iso-bep47"},
		{"glob", "/single/yum/el9/x86_64/Packages/*.rpm", "single-glob-all-rpms-bep47"},
		{"digest", digest, "digest-all-packages-bep47"},
	}
	for step, priv := range []bool{false, true, false} {
		list := filepath.Join(t.TempDir(), "whitelist")
		args := []string{"-root", root, "-cache", cache, "-trackers", trackers, "-tracker-whitelist", list}
		if priv {
			args = append(args, "-private")
		}
		srv := startServer(t, "private", serviceBinary(t), nil, args...)
		mount := srv.url + "/yum/torrent_service"
		var hashes []string
		for i, c := range cases {
			res, body := get(t, http.MethodGet, mount+c.path, nil)
			if step == 0 && c.path == digest {
				// A new cache: the digest is unknown until posted.
				if res.StatusCode != http.StatusPreconditionFailed {
					t.Fatalf("step %d: GET %s: %d, want 412", step, c.path, res.StatusCode)
				}
				res, body = get(t, http.MethodPost, mount+c.path, form)
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("step %d: %s: %d %s", step, c.name, res.StatusCode, body)
			}
			tor := filepath.Join(t.TempDir(), "x.torrent")
			e2e.WriteFile(t, tor, string(body))
			var lt struct {
				V1      string
				Private bool
			}
			ltJSON(t, &lt, "info", "--torrent", tor)
			if lt.Private != priv {
				t.Errorf("step %d: %s: libtorrent reads private %v, want %v", step, c.name, lt.Private, priv)
			}
			privacy := compatVersion(t, `Privacy: (\S+) torrent`, show, tor)
			if want := map[bool]string{false: "Public", true: "Private"}[priv]; privacy != want {
				t.Errorf("step %d: %s: transmission-show reads %s, want %s", step, c.name, privacy, want)
			}
			if want := "attachment; filename=" + lt.V1 + ".torrent"; res.Header.Get("Content-Disposition") != want {
				t.Errorf("step %d: %s: Content-Disposition %q, want %q (libtorrent's info hash)", step, c.name, res.Header.Get("Content-Disposition"), want)
			}
			switch gold := golden(t, c.golden); {
			case !priv && lt.V1 != gold:
				t.Errorf("step %d: %s: info hash %s without private, want the golden %s", step, c.name, lt.V1, gold)
			case priv && lt.V1 == gold:
				t.Errorf("step %d: %s: the private torrent has the public info hash %s", step, c.name, gold)
			}
			hashes = append(hashes, lt.V1)
			if priv && i == 1 {
				// The glob's torrent, padded: libtorrent and aria2 download
				// it from the web seed alone.
				tt, err := e2eParseTorrent(body)
				if err != nil {
					t.Fatal(err)
				}
				ltSave, ariaSave := t.TempDir(), t.TempDir()
				e2eLibtorrent(t, python, "download", tor, ltSave)
				e2eSameFiles(t, "libtorrent", tt, ltSave)
				log := filepath.Join(t.TempDir(), "aria2.log")
				e2e.ShowLogOnFailure(t, "aria2c", log)
				if _, err := e2e.Run(t, e2eDownloadTimeout, log, aria2, e2eAria2Args(t, ariaSave, tor)...); err != nil {
					t.Fatalf("aria2c: %v", err)
				}
				e2eSameFiles(t, "aria2", tt, ariaSave)
			}
		}
		b, err := os.ReadFile(list)
		if err != nil {
			t.Fatal(err)
		}
		listed := strings.Fields(string(b))
		slices.Sort(listed)
		slices.Sort(hashes)
		if !slices.Equal(listed, slices.Compact(hashes)) {
			t.Errorf("step %d (private %v): the whitelist holds %q, want libtorrent's info hashes %q", step, priv, listed, hashes)
		}
		srv.stop()
	}
}
