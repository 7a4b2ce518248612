package gradstat

import (
	"fmt"
	"math"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// Run is the identity of one run, kept on every output row.
type Run struct {
	Label  string // the run label (runfmt.Resolve): sweep key=value parts, else the path given
	Source string // the path the run was read from, for messages
	RunID  string // run_id metadata
	Loss   string // loss metadata
	Mode   string // mode metadata
	Config string // config metadata (JSON)
	// Groups and Vocab come from the metadata of the run's streams.
	Groups []runfmt.Group
	Vocab  []string
	// Sketch is the grads.arrows sketch metadata ("full", "sketch:K",
	// "countsketch:K" or "").
	Sketch string
}

// StepData is everything the streams of one run hold for one step.
type StepData struct {
	Step  int64
	Steps []runfmt.StepRow // steps.arrows rows of this step (kind train or eval)
	Pairs []runfmt.PairRow // pairs.arrows rows of this step
	Grads []runfmt.GradRow // grads.arrows rows of this step
	// Attrib holds the attrib.arrows rows of this step (train -attrib).
	Attrib []runfmt.AttribRow
}

// A Collector receives every step of every run with what the engine
// computed from it: the -summary view, the runs table and plot's figures are
// collectors over the one set of statistics.
type Collector interface {
	BeginRun(r *Run)
	Step(v *StepView)
	// EndRun ends the run; warnings is the number of warnings it had.
	EndRun(warnings int) error
}

// StepView is one step of a run as a Collector sees it. It and everything
// it refers to are valid only during the call.
type StepView struct {
	*StepData
	Run *Run
	// Stats holds the statistics of each row of Pairs (entangle.Pair with
	// the coefficients the update applied), FO its first-order check.
	Stats []entangle.PairStats
	FO    []FirstOrderRow
	// Summaries are the per-kind summaries of the step, in order of first
	// appearance of the kind.
	Summaries []StepSummary
	// Tokens are the per-token cosine matrices of the step (only with
	// Options.Tokens or -table tokens).
	Tokens []TokenMatrix
}

// FirstOrderRow is the first-order check of one pairs.arrows row: OK when
// the row has pred_w, pred_l and the after-step log-probs.
type FirstOrderRow struct {
	OK bool
	entangle.FirstOrderCheck
}

// Options configures an Engine.
type Options struct {
	// Table is the table written to the Sink (TablePairs, TableSteps, …).
	Table string
	// Sink receives the rows of Table; nil writes no table (e.g. -summary).
	Sink Sink
	// Collectors receive every step (SummaryWriter, RunCollector, …).
	Collectors []Collector
	// Tokens computes the per-token cosine matrices of the pairs that
	// TokenPair accepts (nil: every pair) for the collectors.
	Tokens    bool
	TokenPair func(kind string, pair int64) bool
	// Warn receives one line per warning (without the "gradstat: warning:"
	// prefix); nil drops them. MaxWarnings caps the lines per run (0: 100).
	Warn        func(msg string)
	MaxWarnings int
	// Workers is the number of goroutines that reduce gradient vectors
	// (0: GOMAXPROCS). Results do not depend on it.
	Workers int
}

// Engine turns the steps of runs into output rows. It keeps no per-step
// data between steps beyond reusable buffers.
type Engine struct {
	opt   Options
	batch *Batch
	run   *Run
	// per-run state
	warned   int
	warnings int
	// per-step results, reused
	stats  []entangle.PairStats
	fos    []FirstOrderRow
	gd     []gradResult
	toks   []TokenMatrix
	tokBuf []float32
}

// NewEngine returns an engine with the given options.
func NewEngine(opt Options) *Engine {
	if opt.MaxWarnings == 0 {
		opt.MaxWarnings = 100
	}
	e := &Engine{opt: opt}
	if opt.Sink != nil && opt.Table != TableRuns {
		e.batch = NewBatch(ColumnsOf(opt.Table))
	}
	return e
}

// BeginRun starts a run; every following Step belongs to it until EndRun.
func (e *Engine) BeginRun(r *Run) {
	e.run, e.warned, e.warnings = r, 0, 0
	for _, c := range e.opt.Collectors {
		c.BeginRun(r)
	}
}

// EndRun finishes the current run (the collectors' end of run and the count
// of warnings not printed).
func (e *Engine) EndRun() error {
	if e.warnings > e.warned && e.opt.Warn != nil {
		e.opt.Warn(fmt.Sprintf("%s: %d more warnings not shown", e.run.Label, e.warnings-e.warned))
	}
	var first error
	for _, c := range e.opt.Collectors {
		if err := c.EndRun(e.warnings); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Warnings returns the number of warnings of the current run so far.
func (e *Engine) Warnings() int { return e.warnings }

// loc names the pair a warning is about; it is formatted only when printed.
type loc struct {
	kind string
	pair int64
	note string
}

func (l loc) String() string {
	if l.kind == "" {
		return ""
	}
	return fmt.Sprintf("%s pair %d%s", l.kind, l.pair, l.note)
}

func (e *Engine) warn(step int64, at loc, format string, args ...any) {
	e.warnings++
	if e.opt.Warn == nil || e.warned >= e.opt.MaxWarnings {
		return
	}
	e.warned++
	msg := fmt.Sprintf(format, args...)
	if where := at.String(); where != "" {
		msg = where + ": " + msg
	}
	e.opt.Warn(fmt.Sprintf("%s: step %d: %s", e.run.Label, step, msg))
}

// row begins a row of the table with the run identity columns (runCols).
func (e *Engine) row(step int64, kind string) *Batch {
	b := e.batch
	b.Row()
	b.Str("run", e.run.Label)
	b.Str("run_id", e.run.RunID)
	b.Str("loss", e.run.Loss)
	b.Int("step", step)
	b.Str("kind", kind)
	return b
}

// kindsOf returns the distinct kinds of rows in order of first appearance.
func kindsOf(n int, kind func(i int) string) []string {
	var out []string
	for i := 0; i < n; i++ {
		k := kind(i)
		found := false
		for _, o := range out {
			found = found || o == k
		}
		if !found {
			out = append(out, k)
		}
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Step processes one step of the current run. A returned error is a data
// error in the step (e.g. vectors of mismatched length); warnings are
// reported through Options.Warn.
func (e *Engine) Step(d *StepData) error {
	if err := e.checkPairs(d); err != nil {
		return err
	}
	e.pairStats(d)
	if err := e.grads(d); err != nil {
		return err
	}
	e.toks = e.toks[:0]
	if e.opt.Tokens || (e.opt.Table == TableTokens && e.batch != nil) {
		if err := e.tokenMatrices(d); err != nil {
			return err
		}
	}
	switch {
	case e.batch == nil:
	case e.opt.Table == TablePairs:
		e.pairRows(d)
	case e.opt.Table == TableSteps:
		e.stepRows(d)
	case e.opt.Table == TableGroups:
		e.groupRows(d)
	case e.opt.Table == TableTokens:
		e.tokenRows(d)
	case e.opt.Table == TableAttrib:
		e.attribRows(d)
	}
	if len(e.opt.Collectors) > 0 {
		v := &StepView{StepData: d, Run: e.run, Stats: e.stats, FO: e.fos, Summaries: e.summaries(d), Tokens: e.toks}
		for _, c := range e.opt.Collectors {
			c.Step(v)
		}
	}
	if e.batch != nil && e.batch.N > 0 {
		err := e.opt.Sink.Write(e.batch)
		e.batch.Reset()
		return err
	}
	return nil
}
