package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent"
)

// TestVerifyReturnsVerdict: a check of a torrent's data returns with
// every piece's verdict stored (engine change 13). A client whose file
// has every other piece zeroed, checked again and again, reports the
// pieces it has and not the others. The release returned while a piece
// was being marked, which showed it complete though its hash failed.
func TestVerifyReturnsVerdict(t *testing.T) {
	const pieces, pieceLength = 8, 256 << 10
	const name = "verify-1-1.noarch.rpm"
	mi, _, partial := testSeed(t, name, pieces, pieceLength)
	for p := 0; p < pieces; p += 2 {
		clear(partial[p*pieceLength : (p+1)*pieceLength])
	}
	for i := range 200 {
		var dataDir string
		cl := peerClient(t, func(c *torrent.ClientConfig) { dataDir = c.DataDir })
		if err := os.WriteFile(filepath.Join(dataDir, name), partial, 0o644); err != nil {
			t.Fatal(err)
		}
		tor, err := cl.AddTorrent(mi)
		if err != nil {
			t.Fatal(err)
		}
		if err := tor.VerifyDataContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := tor.BytesCompleted(); got != pieces/2*pieceLength {
			t.Fatalf("check %d: %d bytes complete, want %d (the pieces not zeroed)", i, got, pieces/2*pieceLength)
		}
		cl.Close()
	}
}
