package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestPatchedEngine: third_party/torrent is anacrolix/torrent v1.59.1
// (as the module proxy serves it) but for the files PATCHED.md names,
// each of which marks its changes "pkgtorrent:", and the files of its own
// that it names, each marked "pkgtorrent: this file is not in the release".
func TestPatchedEngine(t *testing.T) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/anacrolix/torrent@v1.59.1").Output()
	if err != nil {
		t.Fatalf("go mod download: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %q: %v", out, err)
	}
	const fork = "../../third_party/torrent"
	var changed []string
	err = filepath.WalkDir(fork, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fork, p)
		if rel == "PATCHED.md" {
			return nil
		}
		ours, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		theirs, err := os.ReadFile(filepath.Join(mod.Dir, rel))
		if errors.Is(err, fs.ErrNotExist) && bytes.Contains(ours, []byte("pkgtorrent: this file is not in the release")) {
			changed = append(changed, rel)
			return nil
		}
		if err != nil {
			t.Errorf("%s is not in the release: %v", rel, err)
			return nil
		}
		if !bytes.Equal(ours, theirs) {
			changed = append(changed, rel)
			if !bytes.Contains(ours, []byte("pkgtorrent:")) {
				t.Errorf("%s differs from the release without a pkgtorrent: mark", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"client.go", "config.go", "peer-conn-msg-writer.go", "peer.go", "peerconn.go",
		"piece.go", "requesting.go", "storage/file-client.go", "storage/file-held.go", "storage/file-torrent.go", "torrent.go", "upload-hold.go"}; !slices.Equal(changed, want) {
		t.Errorf("files that differ from the release: %q, want %q (PATCHED.md)", changed, want)
	}
}
