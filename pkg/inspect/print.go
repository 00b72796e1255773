package inspect

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/progress"
)

// Print writes what t holds, one field a line, then its files (padding
// entries marked), trackers and web seeds:
//
//	name:          yum
//	info hash:     8d0c...
//	piece length:  1048576 (1.0 MiB)
//	pieces:        12
//	size:          9.3 MiB (9752345 bytes) in 8 files and 7 padding entries
//	files:
//	           0  el9/x86_64/Packages/empty-0-1.noarch.rpm
//	     1048575  torrent_service/nullfile/1048575_0  (padding, BEP 47)
//	trackers:
//	  tier 1: udp://tracker.example/announce
//	web seeds:
//	  http://mirror.example/
func Print(w io.Writer, t *Torrent) {
	field := func(k, v string) { fmt.Fprintf(w, "%-14s %s\n", k+":", v) }
	field("name", t.Name)
	field("info hash", hex.EncodeToString(t.InfoHash[:]))
	if t.InfoHashV2 != nil {
		field("info hash v2", hex.EncodeToString(t.InfoHashV2[:]))
	}
	field("piece length", fmt.Sprintf("%d (%s)", t.PieceLength, progress.Bytes(t.PieceLength)))
	pieces := fmt.Sprint(t.NumPieces())
	if want := t.WantPieces(); int64(t.NumPieces()) != want && t.Pieces != nil {
		pieces += fmt.Sprintf(" (the size needs %d)", want)
	}
	field("pieces", pieces)
	files, pads := 0, 0
	for _, f := range t.Files {
		if f.Padding {
			pads++
		} else {
			files++
		}
	}
	size := fmt.Sprintf("%s (%d bytes) in %s", progress.Bytes(t.Length), t.Length, plural(files, "file"))
	if pads > 0 {
		size += " and " + plural(pads, "padding entry")
	}
	if t.Single {
		size += " (single-file torrent)"
	}
	field("size", size)
	if t.Private {
		field("private", "yes")
	}
	if t.Comment != "" {
		field("comment", t.Comment)
	}
	if t.CreatedBy != "" {
		field("created by", t.CreatedBy)
	}
	if !t.Created.IsZero() {
		field("created", t.Created.Format("2006-01-02 15:04:05 UTC"))
	}
	fmt.Fprintln(w, "files:")
	width := len(fmt.Sprint(t.Length))
	for _, f := range t.Files {
		line := fmt.Sprintf("  %*d  %s", width, f.Length, strings.Join(f.Path, "/"))
		if f.Padding {
			line += "  (padding, " + f.PaddingKind + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "trackers:")
	if len(t.Trackers) == 0 {
		fmt.Fprintln(w, "  none (web seeds only)")
	}
	for i, tier := range t.Trackers {
		fmt.Fprintf(w, "  tier %d: %s\n", i+1, strings.Join(tier, " "))
	}
	fmt.Fprintln(w, "web seeds:")
	if len(t.WebSeeds) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, u := range t.WebSeeds {
		fmt.Fprintln(w, "  "+u)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}
