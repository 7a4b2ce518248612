package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"entangle/pkg/runfmt"
)

// rowWriter and rowReader are what the runfmt writers and readers of every
// stream share.
type rowWriter[T any] interface {
	Write(rows []T) error
	Close() error
}

type rowReader[T any] interface {
	Next() bool
	Rows() []T
	Err() error
	Release()
}

// format is one Arrow stream of a run directory: its file, its runfmt
// writer and reader, and the step of a row.
type format[T any] struct {
	name      string
	newWriter func(io.Writer, runfmt.Meta) (rowWriter[T], error)
	newReader func(io.Reader, string) (rowReader[T], error)
	step      func(*T) int64
}

var (
	stepsFormat = format[runfmt.StepRow]{runfmt.StepsFile,
		func(w io.Writer, m runfmt.Meta) (rowWriter[runfmt.StepRow], error) { return runfmt.NewStepWriter(w, m) },
		func(r io.Reader, n string) (rowReader[runfmt.StepRow], error) { return runfmt.NewStepReader(r, n) },
		func(r *runfmt.StepRow) int64 { return r.Step }}
	pairsFormat = format[runfmt.PairRow]{runfmt.PairsFile,
		func(w io.Writer, m runfmt.Meta) (rowWriter[runfmt.PairRow], error) { return runfmt.NewPairWriter(w, m) },
		func(r io.Reader, n string) (rowReader[runfmt.PairRow], error) { return runfmt.NewPairReader(r, n) },
		func(r *runfmt.PairRow) int64 { return r.Step }}
	gradsFormat = format[runfmt.GradRow]{runfmt.GradsFile,
		func(w io.Writer, m runfmt.Meta) (rowWriter[runfmt.GradRow], error) { return runfmt.NewGradWriter(w, m) },
		func(r io.Reader, n string) (rowReader[runfmt.GradRow], error) { return runfmt.NewGradReader(r, n) },
		func(r *runfmt.GradRow) int64 { return r.Step }}
	attribFormat = format[runfmt.AttribRow]{runfmt.AttribFile,
		func(w io.Writer, m runfmt.Meta) (rowWriter[runfmt.AttribRow], error) {
			return runfmt.NewAttribWriter(w, m)
		},
		func(r io.Reader, n string) (rowReader[runfmt.AttribRow], error) { return runfmt.NewAttribReader(r, n) },
		func(r *runfmt.AttribRow) int64 { return r.Step }}
)

// streamFile is the file under a stream.
type streamFile interface {
	io.Writer
	Sync() error
	Close() error
}

// createFile creates (or truncates) a stream's file. Tests replace it to
// make writes fail (a full disk) or kill the process at a given byte.
var createFile = func(path string) (streamFile, error) { return os.Create(path) }

// stream is one output stream of the run being written: one record batch
// per step, appended by write.
type stream[T any] struct {
	path string
	f    streamFile
	w    rowWriter[T]
}

// openStream starts the stream fm in dir. Rows go to the file and, when
// also is not nil, to also (train -o).
//
// On resume (upTo ≥ 0), the record batches of the previous stream whose
// step is at most upTo (the checkpoint's step) are first copied into the
// new one, and the steps copied must be exactly those s ≤ upTo with
// want(s): a batch missing before the checkpoint's step, or a read error
// before it, fails the resume. The new stream is written to
// runfmt.ResumeCopy(name), synced, and only then renamed over name: a copy
// that fails (a full disk) or is killed leaves the previous stream intact,
// and the next resume copies from it again. A stream an earlier version's
// resume left aside (runfmt.OldCopy) is the source when it exists, and is
// removed once replaced.
func openStream[T any](dir string, fm format[T], meta runfmt.Meta, also io.Writer, upTo int64, want func(step int64) bool) (st *stream[T], err error) {
	path := filepath.Join(dir, fm.name)
	tmp := filepath.Join(dir, runfmt.ResumeCopy(fm.name))
	f, err := createFile(tmp)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	var dst io.Writer = f
	if also != nil {
		dst = tee{f, also}
	}
	w, err := fm.newWriter(dst, meta)
	if err != nil {
		return nil, err
	}
	old := filepath.Join(dir, runfmt.OldCopy(fm.name))
	if upTo >= 0 {
		src := path
		if _, err := os.Stat(old); err == nil {
			src = old
		}
		if err := replay(src, fm, w, upTo, want); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return &stream[T]{path: path, f: f, w: w}, nil
}

// replay copies the record batches of the stream src whose step is at most
// upTo into w, one batch per batch, and checks that their steps are exactly
// the s ≤ upTo with want(s), in order. Reading stops at the first batch
// past upTo: what follows it (rows of steps the resumed run redoes, or the
// truncated tail a killed run left) is not read.
func replay[T any](src string, fm format[T], w rowWriter[T], upTo int64, want func(int64) bool) error {
	var expect []int64
	for s := int64(0); s <= upTo; s++ {
		if want(s) {
			expect = append(expect, s)
		}
	}
	f, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) && len(expect) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := fm.newReader(f, src)
	if err != nil {
		return err
	}
	defer r.Release()
	got := 0 // steps of expect copied
	for r.Next() {
		rows := r.Rows()
		if len(rows) == 0 {
			continue
		}
		s := fm.step(&rows[0])
		if s > upTo {
			break
		}
		if got == len(expect) || s != expect[got] {
			return fmt.Errorf("%s: a record batch of step %d where step %s was expected", src, s, expectedStep(expect, got))
		}
		for i := range rows {
			if fm.step(&rows[i]) != s {
				return fmt.Errorf("%s: a record batch mixes steps %d and %d", src, s, fm.step(&rows[i]))
			}
		}
		if err := w.Write(rows); err != nil {
			return err
		}
		got++
	}
	if got < len(expect) {
		if err := r.Err(); err != nil {
			return fmt.Errorf("%w (the checkpoint is at step %d: steps up to it are needed)", err, upTo)
		}
		return fmt.Errorf("%s: ends before step %d (the checkpoint is at step %d)", src, expect[got], upTo)
	}
	// A read error after the checkpoint's step is in rows the resumed run
	// writes again.
	return nil
}

func expectedStep(expect []int64, got int) string {
	if got == len(expect) {
		return "none"
	}
	return fmt.Sprint(expect[got])
}

// write writes one step's rows as one record batch.
func (s *stream[T]) write(rows []T) error {
	if err := s.w.Write(rows); err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}

// close writes the end-of-stream marker and closes the file. It may be
// called more than once.
func (s *stream[T]) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.w.Close()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}

// tee writes to a run file and to a second output (train -o), and flushes the
// second after each record batch so that a consumer can follow it live.
type tee struct{ file, out io.Writer }

func (t tee) Write(p []byte) (int, error) {
	if n, err := t.file.Write(p); err != nil {
		return n, err
	}
	return t.out.Write(p)
}

// Flush flushes the second output when it buffers.
func (t tee) Flush() error {
	if f, ok := t.out.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}
