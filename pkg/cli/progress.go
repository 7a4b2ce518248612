package cli

import (
	"fmt"
	"io"
	"time"
)

// Progress prints throttled progress lines with an ETA to standard error.
// A nil *Progress, or one made with quiet set, prints nothing.
type Progress struct {
	w        io.Writer
	total    int
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// NewProgress returns a progress printer for total units of work (0 if
// unknown). It prints at most every interval (default 500ms when 0).
func NewProgress(w io.Writer, total int, quiet bool, interval time.Duration) *Progress {
	if quiet {
		return nil
	}
	if interval == 0 {
		interval = 500 * time.Millisecond
	}
	p := &Progress{w: w, total: total, interval: interval, now: time.Now}
	p.start = p.now()
	return p
}

// Update reports that done units are complete; msg is appended to the line.
// The line is printed when the interval has passed or the work is complete.
func (p *Progress) Update(done int, msg string) {
	if p == nil {
		return
	}
	t := p.now()
	final := p.total > 0 && done >= p.total
	if !final && t.Sub(p.last) < p.interval {
		return
	}
	p.last = t
	el := t.Sub(p.start)
	if p.total > 0 {
		eta := "?"
		if done > 0 {
			rem := time.Duration(float64(el) / float64(done) * float64(p.total-done))
			eta = rem.Round(time.Second).String()
		}
		fmt.Fprintf(p.w, "%d/%d %s elapsed %s eta %s\n", done, p.total, msg, el.Round(time.Second), eta)
		return
	}
	fmt.Fprintf(p.w, "%d %s elapsed %s\n", done, msg, el.Round(time.Second))
}

// Warnf prints one warning line "name: warning: ..." to w.
func Warnf(w io.Writer, name, format string, args ...any) {
	fmt.Fprintf(w, "%s: warning: %s\n", name, fmt.Sprintf(format, args...))
}
