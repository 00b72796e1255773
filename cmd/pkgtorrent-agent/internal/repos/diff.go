package repos

import (
	"bytes"
	"fmt"
)

// context is the number of unchanged lines around a change, as diff -u.
const context = 3

// Diff is the change of r in the unified format of diff -u, with name as
// both file names (patch -p0 applies it to name); empty when nothing
// changed. Rewrite knows which lines it replaced, so no diff algorithm is
// needed: each hunk is its edits with their context.
func (r *Result) Diff(name string) []byte {
	if !r.Changed() {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", name, name)
	delta := 0 // new line index minus old line index, before the hunk
	for i := 0; i < len(r.edits); {
		// A hunk holds the edits whose context lines meet.
		j := i + 1
		for j < len(r.edits) && r.edits[j].start-r.edits[j-1].end <= 2*context {
			j++
		}
		from := max(0, r.edits[i].start-context)
		to := min(len(r.old), r.edits[j-1].end+context)
		var body bytes.Buffer
		oldN, newN := 0, 0
		at := from
		for _, e := range r.edits[i:j] {
			for ; at < e.start; at++ {
				writeLine(&body, ' ', r.old[at])
				oldN++
				newN++
			}
			for ; at < e.end; at++ {
				writeLine(&body, '-', r.old[at])
				oldN++
			}
			for _, l := range e.lines {
				writeLine(&body, '+', l)
				newN++
			}
		}
		for ; at < to; at++ {
			writeLine(&body, ' ', r.old[at])
			oldN++
			newN++
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(from, oldN), hunkRange(from+delta, newN))
		b.Write(body.Bytes())
		for _, e := range r.edits[i:j] {
			delta += len(e.lines) - (e.end - e.start)
		}
		i = j
	}
	return b.Bytes()
}

// hunkRange is a hunk header's range of n lines from index from, as GNU
// diff writes it.
func hunkRange(from, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", from)
	case 1:
		return fmt.Sprintf("%d", from+1)
	}
	return fmt.Sprintf("%d,%d", from+1, n)
}

func writeLine(b *bytes.Buffer, op byte, l line) {
	b.WriteByte(op)
	b.WriteString(l.text)
	if l.eol == "" {
		b.WriteString("\n\\ No newline at end of file\n")
		return
	}
	b.WriteString(l.eol)
}
