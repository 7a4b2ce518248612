package gradstat

import (
	"bufio"
	"fmt"
	"io"

	"entangle/pkg/runfmt"
)

// feed is one stream of a run, delivered step group by step group: the
// contiguous rows of the current batch that share a step.
type feed struct {
	name   string
	format string
	meta   runfmt.Meta

	next  func() bool
	err   func() error
	close func()
	load  func() int // takes the current batch's rows; returns their number

	steps []runfmt.StepRow
	pairs []runfmt.PairRow
	grads []runfmt.GradRow
	attr  []runfmt.AttribRow
	pos   int // start of the current group in the batch
	end   int // end of the current group
	n     int // rows in the batch

	cur      int64 // step of the current group
	done     bool
	complete int64 // last step delivered completely
	any      bool  // a group was delivered
	// order is set when a group's step is not larger than the one before
	// it (steps out of order or repeated): a data error.
	order error
}

// openFeed opens the train output stream r, whichever of the four formats
// it holds (runfmt checks format, version, columns and metadata).
//
// size, when positive, is the size of the input: no Arrow buffer of a
// complete stream can be larger, so it bounds the reader's allocations (a
// corrupt length in a file then cannot exhaust memory). A stream still
// being written (growing) is bounded by runfmt's default instead: its last
// message may claim a body beyond the current end of the file, which is the
// truncation the reader reports, not corruption (and reading it touches no
// more memory than the bytes that are there).
func openFeed(r io.Reader, name string, size int64, growing bool) (*feed, error) {
	var opts []runfmt.Option
	if size > 0 && size < 1<<40 && !growing {
		opts = append(opts, runfmt.WithMaxBuffer(int(size)+1<<16)) // slack for Arrow's padding
	}
	a, err := runfmt.OpenAny(bufio.NewReaderSize(r, 1<<20), name, opts...)
	if err != nil {
		return nil, err
	}
	f := &feed{name: name, format: a.Format, meta: a.Meta, complete: -1, close: a.Release}
	switch {
	case a.Steps != nil:
		rd := a.Steps
		f.next, f.err = rd.Next, rd.Err
		f.load = func() int { f.steps = rd.Rows(); return len(f.steps) }
	case a.Pairs != nil:
		rd := a.Pairs
		f.next, f.err = rd.Next, rd.Err
		f.load = func() int { f.pairs = rd.Rows(); return len(f.pairs) }
	case a.Attrib != nil:
		rd := a.Attrib
		f.next, f.err = rd.Next, rd.Err
		f.load = func() int { f.attr = rd.Rows(); return len(f.attr) }
	default:
		rd := a.Grads
		f.next, f.err = rd.Next, rd.Err
		f.load = func() int { f.grads = rd.Rows(); return len(f.grads) }
	}
	return f, nil
}

func (f *feed) stepAt(i int) int64 {
	switch f.format {
	case runfmt.FormatSteps:
		return f.steps[i].Step
	case runfmt.FormatPairs:
		return f.pairs[i].Step
	case runfmt.FormatAttrib:
		return f.attr[i].Step
	}
	return f.grads[i].Step
}

// advance moves to the next step group, reading a batch when needed.
func (f *feed) advance() {
	if f.any && f.end > f.pos {
		f.complete = f.cur
	}
	f.pos = f.end
	for f.pos >= f.n {
		if !f.next() {
			f.done = true
			return
		}
		f.n, f.pos, f.end = f.load(), 0, 0
	}
	prev := f.cur
	f.cur = f.stepAt(f.pos)
	if f.any && f.cur <= prev {
		f.order = fmt.Errorf("the next rows are of step %d: steps must increase, each step once (two runs' streams concatenated, or a rewritten stream?)", f.cur)
		f.done = true
		return
	}
	f.end = f.pos + 1
	for f.end < f.n && f.stepAt(f.end) == f.cur {
		f.end++
	}
	f.any = true
}

// attach adds the current group to d.
func (f *feed) attach(d *StepData) {
	switch f.format {
	case runfmt.FormatSteps:
		d.Steps = f.steps[f.pos:f.end]
	case runfmt.FormatPairs:
		d.Pairs = f.pairs[f.pos:f.end]
	case runfmt.FormatGrads:
		d.Grads = f.grads[f.pos:f.end]
	case runfmt.FormatAttrib:
		d.Attrib = f.attr[f.pos:f.end]
	}
}
