package warm

import (
	"fmt"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/progress"
)

// Line is the progress line of s for a terminal width columns wide:
//
//	[#######.......]  48%  4/9 files  4.5/9.3 MiB  81.2 MiB/s  0:03 left
func (s Snapshot) Line(width int) string {
	if !s.Matched {
		return "warm: matching the patterns..."
	}
	pct := int64(100)
	if s.Bytes > 0 {
		pct = 100 * min(s.BytesDone, s.Bytes) / s.Bytes
	}
	left := "--:-- left"
	if d, ok := s.Left(); ok {
		left = progress.Clock(d) + " left"
	}
	text := fmt.Sprintf("%3d%%  %d/%d files  %s/%s  %s  %s", pct, s.FilesDone, s.Files,
		progress.Bytes(min(s.BytesDone, s.Bytes)), progress.Bytes(s.Bytes),
		progress.Rate(s.BytesHashed, s.Elapsed), left)
	if s.Failed > 0 {
		text += fmt.Sprintf("  %d failed", s.Failed)
	}
	// The bar's width depends on the terminal's only, so that it does
	// not jump as the numbers change; Meter cuts what does not fit.
	bar := min(max(width-64, 8), 30)
	return progress.Bar(bar, min(s.BytesDone, s.Bytes), s.Bytes) + "  " + text
}

// Summary is the one line that tells the outcome of a run:
//
//	warm: 9 files, 9.3 MiB: 9 hashed, 0 already valid, 0 failed; hashed 9.3 MiB in 0.2s (46.5 MiB/s) with 2 workers
func (s Snapshot) Summary(interrupted bool) string {
	var b strings.Builder
	b.WriteString("warm: ")
	if interrupted {
		fmt.Fprintf(&b, "interrupted after %d of ", s.FilesDone)
	}
	fmt.Fprintf(&b, "%d files, %s: %d hashed, %d already valid, %d failed; ",
		s.Files, progress.Bytes(s.Bytes), s.Hashed, s.Valid, s.Failed)
	if s.BytesHashed > 0 {
		fmt.Fprintf(&b, "hashed %s in %s (%s)", progress.Bytes(s.BytesHashed), progress.Duration(s.Elapsed), progress.Rate(s.BytesHashed, s.Elapsed))
	} else {
		fmt.Fprintf(&b, "nothing to hash, took %s", progress.Duration(s.Elapsed))
	}
	fmt.Fprintf(&b, " with %d workers", s.Workers)
	if interrupted {
		b.WriteString("; the entries written are kept")
	}
	return b.String()
}
