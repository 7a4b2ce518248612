package gradstat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"entangle/pkg/runfmt"
)

// InputError is a data error in one input: "file:step N: msg" (Step < 0:
// "file: msg").
type InputError struct {
	File string
	Step int64
	Err  error
}

func (e *InputError) Error() string {
	if e.Step >= 0 {
		return fmt.Sprintf("%s:step %d: %v", e.File, e.Step, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// Opener opens a stream path ("-" is standard input).
type Opener func(path string) (io.ReadCloser, error)

// Process reads the run in and feeds its steps to e, merging its streams
// by step (steps.arrows, pairs.arrows and grads.arrows are read in lockstep,
// so memory holds one step of each). It returns the first data error; the
// steps before it have been processed and written.
func Process(ctx context.Context, e *Engine, in Input, open Opener, warn func(string)) error {
	run := &Run{Label: in.Label, Source: in.Dir}
	var feeds []*feed
	defer func() {
		for _, f := range feeds {
			f.close()
		}
	}()
	for _, path := range in.Files {
		rc, err := open(path)
		if err != nil {
			return &InputError{File: displayName(path), Step: -1, Err: err}
		}
		defer rc.Close()
		f, err := openFeed(rc, displayName(path), sizeOf(rc), in.InProgress)
		if err != nil {
			return err // runfmt's message names the input
		}
		feeds = append(feeds, f)
		if run.Source == "" {
			run.Source = displayName(path)
		}
		m := &f.meta
		if run.RunID == "" {
			run.RunID, run.Loss, run.Mode, run.Config = m.RunID, m.Loss, m.Mode, m.Config
		} else if m.RunID != "" && m.RunID != run.RunID && warn != nil {
			warn(fmt.Sprintf("%s: %s has run_id %s, %s has %s", in.Label, f.name, m.RunID, feeds[0].name, run.RunID))
		}
		if len(run.Groups) == 0 {
			run.Groups = m.Groups
		}
		if len(run.Vocab) == 0 {
			run.Vocab = m.Vocab
		}
		if f.format == runfmt.FormatGrads {
			run.Sketch = m.Sketch
		}
	}
	e.BeginRun(run)
	for _, f := range feeds {
		f.advance()
	}
	var d StepData
	var stepErr error
	for stepErr == nil {
		if err := ctx.Err(); err != nil {
			stepErr = err
			break
		}
		for _, f := range feeds {
			if f.order != nil {
				stepErr = &InputError{File: f.name, Step: f.complete, Err: f.order}
			}
		}
		if stepErr != nil {
			break
		}
		first := true
		for _, f := range feeds {
			if !f.done && (first || f.cur < d.Step) {
				d.Step, first = f.cur, false
			}
		}
		if first {
			break
		}
		d.Steps, d.Pairs, d.Grads, d.Attrib = nil, nil, nil, nil
		var from []*feed
		for _, f := range feeds {
			if !f.done && f.cur == d.Step {
				f.attach(&d)
				from = append(from, f)
			}
		}
		if err := e.Step(&d); err != nil {
			name := from[0].name
			for _, f := range from {
				if f.format != runfmt.FormatSteps {
					name = f.name
				}
			}
			stepErr = &InputError{File: name, Step: d.Step, Err: err}
			break
		}
		for _, f := range from {
			f.advance()
		}
	}
	if stepErr == nil {
		warned := false
		for _, f := range feeds {
			if err := f.err(); err != nil {
				truncated := errors.Is(err, runfmt.ErrTruncated)
				if in.InProgress && truncated {
					if warn != nil {
						warn(fmt.Sprintf("%s: %s: run in progress (no DONE): read through step %d", in.Label, f.name, f.complete))
					}
					warned = true
					continue
				}
				if truncated {
					// A finished run's stream (or a loose one) is cut: say
					// where, from the reader's own account of the cut.
					done := ""
					if in.Dir != "" {
						done = ", though the run has DONE (the file was cut after the run ended)"
					}
					if f.complete < 0 {
						stepErr = &InputError{File: f.name, Step: -1, Err: truncatedError(
							fmt.Sprintf("%s%s; no complete step", cutDetail(err), done))}
						break
					}
					stepErr = &InputError{File: f.name, Step: f.complete, Err: truncatedError(
						fmt.Sprintf("%s%s; this is the last complete step, the statistics up to it were written",
							cutDetail(err), done))}
					break
				}
				stepErr = err // runfmt names the file and the last complete step
				break
			}
		}
		if stepErr == nil && in.InProgress && !warned && warn != nil {
			// every stream ended at a message boundary, but the run is not
			// finished: its statistics are those of the steps written so far
			warn(fmt.Sprintf("%s: run in progress (no DONE): statistics of the steps written so far", in.Label))
		}
	}
	if err := e.EndRun(); err != nil && stepErr == nil {
		stepErr = err
	}
	return stepErr
}

// cutDetail returns what a reader said of a stream's truncation without the
// file name and step it prefixes: the innermost error that wraps
// runfmt.ErrTruncated, e.g. "truncated Arrow stream: the input ends inside a
// message body at byte 68716 (100 bytes missing)".
func cutDetail(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil || next == runfmt.ErrTruncated {
			return err.Error()
		}
		err = next
	}
}

// truncatedError is a truncation error: its message, and errors.Is
// runfmt.ErrTruncated (plot reads what is complete of such a run).
type truncatedError string

func (t truncatedError) Error() string { return string(t) }
func (truncatedError) Unwrap() error   { return runfmt.ErrTruncated }

func displayName(path string) string {
	if path == "-" || path == "" {
		return "<stdin>"
	}
	return path
}

// sizeOf returns the size of r if it is known (a regular file, or a reader
// with a Size method such as *bytes.Reader), else 0.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size()
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			return st.Size()
		}
	}
	return 0
}
