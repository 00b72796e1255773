package gc

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/progress"
)

// Line tells one removal, with its path relative to base when it is below
// it:
//
//	removed pieces/yum/x.rpm/1048576 (piece entry, 96 B): source file gone
func (r Removal) Line(dryRun bool, base string) string {
	p := r.Path
	if rel, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(rel, "..") {
		p = rel
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	what := r.Kind.String()
	if r.Kind != Folder {
		what += ", " + progress.Bytes(r.Bytes)
	}
	line := fmt.Sprintf("%s %s (%s)", verb, p, what)
	if r.Why != "" {
		line += ": " + r.Why
	}
	return line
}

// Summary is the one line that tells the outcome of a run:
//
//	gc: removed 3 piece entries, 1 info entry and 2 empty folders, freeing 1.2 KiB (1234 bytes); kept 9 entries (1.0 KiB)
func (r Result) Summary(dryRun bool) string {
	var parts []string
	for k := range numKinds {
		if r.Removed[k] > 0 {
			parts = append(parts, k.Count(r.Removed[k]))
		}
	}
	kept := fmt.Sprintf("kept %d entries (%s)", r.Kept, progress.Bytes(r.KeptBytes))
	if r.Failed > 0 {
		kept += fmt.Sprintf("; %d could not be removed", r.Failed)
	}
	if r.Unlisted > 0 {
		kept += fmt.Sprintf("; %d info hashes taken off the tracker's whitelist", r.Unlisted)
	}
	if len(parts) == 0 {
		return "gc: nothing to remove; " + kept
	}
	list := parts[0]
	if n := len(parts); n > 1 {
		list = strings.Join(parts[:n-1], ", ") + " and " + parts[n-1]
	}
	verb, freeing := "removed", "freeing"
	if dryRun {
		verb, freeing = "dry run: would remove", "which would free"
	}
	return fmt.Sprintf("gc: %s %s, %s %s (%d bytes); %s", verb, list, freeing, progress.Bytes(r.Bytes), r.Bytes, kept)
}
