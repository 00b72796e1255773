// Package progress draws a live progress line on a terminal: one line
// redrawn in place with a carriage return, a few times a second, that the
// last draw leaves on screen. It needs only the standard library: a
// terminal is recognised by the TCGETS ioctl, as isatty(3) does.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Interval is how often Start redraws the line.
const Interval = 250 * time.Millisecond

// Meter redraws one line until Stop. Create it with Start.
type Meter struct {
	out    io.Writer
	width  int
	render func(width int) string
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Start draws render's line on out at once and then every Interval until
// Stop. render gets the width to fill and must be safe to call from
// another goroutine.
func Start(out io.Writer, width int, render func(width int) string) *Meter {
	m := &Meter{out: out, width: width, render: render, stop: make(chan struct{}), done: make(chan struct{})}
	m.draw()
	go func() {
		defer close(m.done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.draw()
			}
		}
	}()
	return m
}

// Stop draws the line a last time and ends it with a newline.
func (m *Meter) Stop() {
	m.once.Do(func() {
		close(m.stop)
		<-m.done
		m.draw()
		fmt.Fprint(m.out, "\n")
	})
}

// draw rewrites the line: back to its start, the text, and erase to the
// end of the line (the previous text may have been longer).
func (m *Meter) draw() {
	line := m.render(m.width)
	if r := []rune(line); len(r) > m.width-1 {
		line = string(r[:max(m.width-1, 0)])
	}
	fmt.Fprint(m.out, "\r"+line+"\x1b[K")
}

// Bar returns a bar of width cells, filled in the proportion done/total:
// "[#######.......]".
func Bar(width int, done, total int64) string {
	inner := max(width-2, 1)
	fill := inner
	if total > 0 {
		fill = int(int64(inner) * min(done, total) / total)
	}
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", inner-fill) + "]"
}

// Bytes formats a byte count with binary units: 512 B, 1.5 KiB, 9.3 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}

// Rate formats bytes per second over d.
func Rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return Bytes(int64(float64(n)/d.Seconds())) + "/s"
}

// Clock formats a duration as h:mm:ss, or m:ss under an hour.
func Clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Duration formats an elapsed time to about three significant digits:
// 215µs, 215ms, 3.42s, 1m12s.
func Duration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
