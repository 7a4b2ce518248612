package gradstat

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// Run is the identity of one run, kept on every output row.
type Run struct {
	Label  string // sweep labels (task=…/loss=…) or the directory/file name
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

// Options configures an Engine.
type Options struct {
	// Table is the table written to the Sink (TablePairs, TableSteps, …).
	Table string
	// Sink receives the rows of Table; nil writes no table (e.g. -summary).
	Sink Sink
	// Summary, if not nil, receives every step's summaries and run ends.
	Summary *SummaryWriter
	// Runs, if not nil, collects the headline statistics of every run for
	// the runs table (TableRuns; Sink is then usually nil).
	Runs *RunCollector
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
	// reusable buffers
	stats  []entangle.PairStats
	fos    []foRow
	gd     []gradResult
	tokBuf []float32
	cosBuf []float64
}

type foRow struct {
	ok bool
	fo entangle.FirstOrderCheck
}

// gradResult holds the reductions of one pair's sequence gradients.
type gradResult struct {
	kind           string
	pair           int64
	w, l           int // row indices in Grads
	dot, ww, ll    float64
	se             float64
	predW, predL   float64
	hasPred        bool
	matched        int // index into Pairs of the same kind and pair, or -1
	nonFiniteInput bool
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
	if e.opt.Summary != nil {
		e.opt.Summary.BeginRun(r)
	}
	if e.opt.Runs != nil {
		e.opt.Runs.begin(r)
	}
}

// EndRun finishes the current run (the summary's headline figures and the
// count of warnings not printed).
func (e *Engine) EndRun() error {
	if e.warnings > e.warned && e.opt.Warn != nil {
		e.opt.Warn(fmt.Sprintf("%s: %d more warnings not shown", e.run.Label, e.warnings-e.warned))
	}
	if e.opt.Runs != nil {
		e.opt.Runs.end(e.warnings)
	}
	if e.opt.Summary != nil {
		return e.opt.Summary.EndRun(e.warnings)
	}
	return nil
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

func (e *Engine) runCols(b *Batch, step int64, kind string) {
	b.S(e.run.Label).S(e.run.RunID).S(e.run.Loss).I(step).S(kind)
}

// kinds returns the distinct kinds of rows in order of first appearance.
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
	// Per-pair statistics, in row order.
	e.stats = e.stats[:0]
	e.fos = e.fos[:0]
	for i := range d.Pairs {
		p := &d.Pairs[i]
		where := loc{kind: p.Kind, pair: p.Pair}
		ps := entangle.Pair(p.Dot, p.WW, p.LL, p.CW, p.CL) // the applied coefficients (= d_w, d_l unless -normalize)
		for _, w := range ps.Warnings {
			e.warn(d.Step, where, "%v", w)
		}
		if !finite(p.LogpW) || !finite(p.LogpL) {
			e.warn(d.Step, where, "log-probability is not finite (logp_w %v, logp_l %v)", p.LogpW, p.LogpL)
		}
		e.stats = append(e.stats, ps)
		var fo foRow
		if finite(p.PredW) && finite(p.PredL) && finite(p.LogpWAfter) && finite(p.LogpLAfter) {
			fo = foRow{ok: true, fo: entangle.FirstOrder(p.PredW, p.PredL, p.LogpWAfter-p.LogpW, p.LogpLAfter-p.LogpL)}
		} else if p.Kind == "probe" && e.run.Mode != "analyze" { // an analysis (train -mode analyze) takes no step
			e.warn(d.Step, where, "probe row without pred/logp_after: no first-order check")
		}
		e.fos = append(e.fos, fo)
		e.checkGroups(d.Step, where, p)
	}
	if err := e.grads(d); err != nil {
		return err
	}
	switch {
	case e.batch == nil:
	case e.opt.Table == TablePairs:
		e.pairRows(d)
	case e.opt.Table == TableSteps:
		e.stepRows(d)
	case e.opt.Table == TableGroups:
		e.groupRows(d)
	case e.opt.Table == TableAttrib:
		e.attribRows(d)
	}
	if e.opt.Summary != nil {
		e.summaryRows(d)
	}
	if e.opt.Runs != nil {
		e.opt.Runs.step(e, d, e.summaries(d))
	}
	if e.batch != nil && e.batch.N > 0 {
		err := e.opt.Sink.Write(e.batch)
		e.batch.Reset()
		return err
	}
	return nil
}

// checkPairs reports inconsistent vector lengths as data errors.
func (e *Engine) checkPairs(d *StepData) error {
	G := len(e.run.Groups)
	for i := range d.Pairs {
		p := &d.Pairs[i]
		if len(p.DotG) != len(p.WWG) || len(p.DotG) != len(p.LLG) {
			return fmt.Errorf("pair %d: dot_g, ww_g, ll_g have lengths %d, %d, %d", p.Pair, len(p.DotG), len(p.WWG), len(p.LLG))
		}
		if G > 0 && len(p.DotG) != 0 && len(p.DotG) != G {
			return fmt.Errorf("pair %d: %d group values, metadata has %d groups", p.Pair, len(p.DotG), G)
		}
		if len(p.HidW) != len(p.HidL) {
			return fmt.Errorf("pair %d: hid_w has %d values, hid_l %d", p.Pair, len(p.HidW), len(p.HidL))
		}
	}
	return nil
}

// groupTol is the relative tolerance of the check that the per-group
// reductions add up to the totals: train sums the groups and the total in
// float64 from the same products, so they agree to about 1e-15 relative to
// the scale √(ww·ll); 1e-9 leaves room for other summation orders while
// catching any real inconsistency.
const groupTol = 1e-9

func (e *Engine) checkGroups(step int64, where loc, p *runfmt.PairRow) {
	if len(p.DotG) == 0 {
		return
	}
	var dot, ww, ll float64
	for g := range p.DotG {
		dot += p.DotG[g]
		ww += p.WWG[g]
		ll += p.LLG[g]
	}
	scale := math.Sqrt(math.Abs(p.WW * p.LL))
	bad := func(sum, total, scale float64) bool {
		return !(math.Abs(sum-total) <= groupTol*scale) && (finite(sum) || finite(total))
	}
	if bad(dot, p.Dot, scale) || bad(ww, p.WW, math.Abs(p.WW)) || bad(ll, p.LL, math.Abs(p.LL)) {
		e.warn(step, where, "groups do not sum to the totals: Σdot_g=%g dot=%g, Σww_g=%g ww=%g, Σll_g=%g ll=%g", dot, p.Dot, ww, p.WW, ll, p.LL)
	}
}

func (e *Engine) pairRows(d *StepData) {
	b := e.batch
	for i := range d.Pairs {
		p, ps, fo := &d.Pairs[i], &e.stats[i], &e.fos[i]
		e.runCols(b, d.Step, p.Kind)
		b.I(p.Pair).S("pairs").B(false)
		nw := len(ps.Warnings)
		pairStatCols(b, ps, 0)
		b.F(p.LogpW).F(p.LogpL)
		if fo.ok {
			f := &fo.fo
			b.F(f.PredW).F(f.PredL).F(f.ObsW).F(f.ObsL).F(f.RelErrW).F(f.RelErrL).F(f.RelErrMargin)
			b.I(int64(f.PredCase)).I(int64(f.ObsCase)).B(f.Match)
		} else {
			b.Null().Null().Null().Null().Null().Null().Null().Null().Null().Null()
		}
		if len(p.HidW) > 0 {
			s, sn, err := entangle.CHES(p.HidW, p.HidL, int(p.LenW), int(p.LenL))
			if err != nil {
				e.warn(d.Step, loc{kind: p.Kind, pair: p.Pair}, "CHES: %v", err)
				nw++
			}
			b.F(s).F(sn)
		} else {
			b.Null().Null()
		}
		b.I(int64(nw))
		b.End()
	}
	for i := range e.gd {
		g := &e.gd[i]
		ps := entangle.Pair(g.dot, g.ww, g.ll, math.NaN(), math.NaN())
		var lw, ll float64 = math.NaN(), math.NaN()
		var p *runfmt.PairRow
		if g.matched >= 0 {
			p = &d.Pairs[g.matched]
			ps = entangle.Pair(g.dot, g.ww, g.ll, p.CW, p.CL)
			lw, ll = p.LogpW, p.LogpL
		}
		e.runCols(b, d.Step, g.kind)
		b.I(g.pair).S("grads").B(e.sketched())
		pairStatCols(b, &ps, g.se)
		b.F(lw).F(ll)
		if g.hasPred && p != nil && finite(p.LogpWAfter) && finite(p.LogpLAfter) {
			f := entangle.FirstOrder(g.predW, g.predL, p.LogpWAfter-p.LogpW, p.LogpLAfter-p.LogpL)
			b.F(f.PredW).F(f.PredL).F(f.ObsW).F(f.ObsL).F(f.RelErrW).F(f.RelErrL).F(f.RelErrMargin)
			b.I(int64(f.PredCase)).I(int64(f.ObsCase)).B(f.Match)
		} else if g.hasPred {
			b.F(g.predW).F(g.predL).Null().Null().Null().Null().Null().I(int64(entangle.CaseOf(g.predW, g.predL))).Null().Null()
		} else {
			b.Null().Null().Null().Null().Null().Null().Null().Null().Null().Null()
		}
		b.Null().Null() // CHES comes from pairs.arrows only
		b.I(int64(len(ps.Warnings)))
		b.End()
	}
}

// pairStatCols appends dot … pred_dl_sgd.
func pairStatCols(b *Batch, ps *entangle.PairStats, se float64) {
	b.F(ps.Dot).F(se).F(ps.NormW).F(ps.NormL).F(ps.Cos).F(ps.NormRatio).F(ps.ChosenRatio).F(ps.RejectedRatio).F(ps.R)
	b.I(int64(ps.Case))
	if finite(ps.DW) && finite(ps.DL) {
		b.I(int64(ps.LossCase))
	} else {
		b.I(0)
	}
	b.F(ps.DW).F(ps.DL).F(ps.DeltaW).F(ps.DeltaL)
}

func (e *Engine) sketched() bool {
	return strings.HasPrefix(e.run.Sketch, "sketch:") || strings.HasPrefix(e.run.Sketch, "countsketch:")
}

// StepSummary is the per-kind summary of one step, as the steps table and
// the -summary view show it.
type StepSummary struct {
	Step      int64
	Kind      string           // "train" or "probe"
	S         entangle.Summary // distributions and case fractions of the pairs
	LogpW     float64          // mean log π_w
	LogpL     float64          // mean log π_l
	FoN       int              // pairs with a first-order check (probes)
	FoRelErrW entangle.Dist    // RelErr of the chosen's predicted change
	FoRelErrL entangle.Dist    // RelErr of the rejected's predicted change
	FoMatch   float64          // fraction of checked pairs whose predicted case matched; NaN if none
	// Batch is the steps.arrows train row of the step (nil if none); it is
	// owned by the reader and valid only during Engine.Step.
	Batch    *runfmt.StepRow
	BatchCos float64 // batch_dot/√(batch_ww·batch_ll)
	Warned   int     // pairs with a warning
}

// summaries computes the per-kind summaries of the step.
func (e *Engine) summaries(d *StepData) []StepSummary {
	kinds := kindsOf(len(d.Pairs), func(i int) string { return d.Pairs[i].Kind })
	var train *runfmt.StepRow
	for i := range d.Steps {
		if d.Steps[i].Kind == "train" {
			train = &d.Steps[i]
		}
	}
	out := make([]StepSummary, 0, len(kinds))
	var sel []entangle.PairStats
	var relW, relL []float64
	for _, k := range kinds {
		ss := StepSummary{Step: d.Step, Kind: k, BatchCos: math.NaN()}
		sel, relW, relL = sel[:0], relW[:0], relL[:0]
		var sw, sl float64
		match := 0
		for i := range d.Pairs {
			if d.Pairs[i].Kind != k {
				continue
			}
			sel = append(sel, e.stats[i])
			sw += d.Pairs[i].LogpW
			sl += d.Pairs[i].LogpL
			if fo := &e.fos[i]; fo.ok {
				ss.FoN++
				relW = append(relW, fo.fo.RelErrW)
				relL = append(relL, fo.fo.RelErrL)
				if fo.fo.Match {
					match++
				}
			}
		}
		ss.S = entangle.Summarize(sel)
		ss.Warned = ss.S.Warned
		n := float64(len(sel))
		ss.LogpW, ss.LogpL = sw/n, sl/n
		ss.FoRelErrW, ss.FoRelErrL = entangle.Describe(relW), entangle.Describe(relL)
		ss.FoMatch = math.NaN()
		if ss.FoN > 0 {
			ss.FoMatch = float64(match) / float64(ss.FoN)
		}
		if k == "train" && train != nil {
			ss.Batch = train
			ss.BatchCos = train.BatchDot / math.Sqrt(train.BatchWW*train.BatchLL)
		}
		out = append(out, ss)
	}
	return out
}

func (e *Engine) stepRows(d *StepData) {
	b := e.batch
	for _, ss := range e.summaries(d) {
		s := &ss.S
		e.runCols(b, d.Step, ss.Kind)
		b.I(int64(s.N))
		for _, dist := range []*entangle.Dist{&s.Cos, &s.R} {
			b.F(dist.Mean).F(dist.Median).F(dist.Q05).F(dist.Q25).F(dist.Q75).F(dist.Q95)
		}
		b.F(s.CaseFrac[1]).F(s.CaseFrac[2]).F(s.CaseFrac[3])
		b.F(s.LossCaseFrac[1]).F(s.LossCaseFrac[2]).F(s.LossCaseFrac[3]).F(s.LossCaseFrac[4])
		b.F(s.CaseFrac[0])
		b.F(ss.LogpW).F(ss.LogpL)
		if ss.Batch != nil {
			b.F(ss.Batch.BatchDot).F(ss.BatchCos).F(ss.Batch.CosMean)
		} else {
			b.Null().Null().Null()
		}
		if ss.FoN > 0 {
			b.I(int64(ss.FoN)).F(ss.FoRelErrW.Median).F(ss.FoRelErrL.Median).F(ss.FoMatch)
		} else {
			b.I(0).Null().Null().Null()
		}
		b.I(int64(ss.Warned))
		b.End()
	}
}

func (e *Engine) summaryRows(d *StepData) {
	for _, ss := range e.summaries(d) {
		e.opt.Summary.Step(&ss)
	}
}

func (e *Engine) groupRows(d *StepData) {
	b := e.batch
	kinds := kindsOf(len(d.Pairs), func(i int) string { return d.Pairs[i].Kind })
	G := len(e.run.Groups)
	for _, k := range kinds {
		if G == 0 {
			for i := range d.Pairs {
				if d.Pairs[i].Kind == k && len(d.Pairs[i].DotG) > 0 {
					G = len(d.Pairs[i].DotG)
					break
				}
			}
		}
		var tdot, tww, tll float64
		n := 0
		for i := range d.Pairs {
			p := &d.Pairs[i]
			if p.Kind != k || len(p.DotG) == 0 {
				continue
			}
			n++
			tdot += p.Dot
			tww += p.WW
			tll += p.LL
		}
		if n == 0 {
			continue
		}
		for g := 0; g < G; g++ {
			var dot, ww, ll, cs float64
			nc := 0
			for i := range d.Pairs {
				p := &d.Pairs[i]
				if p.Kind != k || len(p.DotG) == 0 {
					continue
				}
				dot += p.DotG[g]
				ww += p.WWG[g]
				ll += p.LLG[g]
				if c := p.DotG[g] / math.Sqrt(p.WWG[g]*p.LLG[g]); finite(c) {
					cs += c
					nc++
				}
			}
			name := fmt.Sprintf("group%d", g)
			if g < len(e.run.Groups) {
				name = e.run.Groups[g].Name
			}
			e.runCols(b, d.Step, k)
			b.S(name).I(int64(n)).F(dot).F(ww).F(ll).F(dot / tdot).F(ww / tww).F(ll / tll).F(cs / float64(nc))
			b.End()
		}
	}
}

// grads reduces the sequence gradients of grads.arrows (both sides of each
// pair, and the update row), and writes the token table rows if asked.
func (e *Engine) grads(d *StepData) error {
	e.gd = e.gd[:0]
	if len(d.Grads) == 0 {
		return nil
	}
	dim := -1
	update := -1
	type key struct {
		kind string
		pair int64
	}
	idx := map[key]int{}
	for i := range d.Grads {
		g := &d.Grads[i]
		if dim < 0 {
			dim = len(g.Grad)
		} else if len(g.Grad) != dim {
			return fmt.Errorf("%s pair %d %s: gradient has %d values, earlier rows %d", g.Kind, g.Pair, g.Side, len(g.Grad), dim)
		}
		if g.Token >= 0 {
			continue
		}
		if g.Side == "update" {
			update = i
			continue
		}
		k := key{g.Kind, g.Pair}
		j, ok := idx[k]
		if !ok {
			j = len(e.gd)
			idx[k] = j
			e.gd = append(e.gd, gradResult{kind: g.Kind, pair: g.Pair, w: -1, l: -1, matched: -1})
		}
		switch g.Side {
		case "chosen":
			e.gd[j].w = i
		case "rejected":
			e.gd[j].l = i
		default:
			return fmt.Errorf("%s pair %d: unknown side %q", g.Kind, g.Pair, g.Side)
		}
	}
	// Drop incomplete pairs (with a warning), match pairs.arrows rows.
	keep := e.gd[:0]
	for _, r := range e.gd {
		if r.w < 0 || r.l < 0 {
			e.warn(d.Step, loc{kind: r.kind, pair: r.pair}, "grads.arrows has only one side of the pair")
			continue
		}
		for i := range d.Pairs {
			if d.Pairs[i].Kind == r.kind && d.Pairs[i].Pair == r.pair {
				r.matched = i
				break
			}
		}
		keep = append(keep, r)
	}
	e.gd = keep
	e.reduce(d, update)
	for i := range e.gd {
		r := &e.gd[i]
		where := loc{kind: r.kind, pair: r.pair, note: " (grads)"}
		if r.nonFiniteInput {
			e.warn(d.Step, where, "gradient has NaN or Inf entries")
		}
		if r.matched >= 0 && !e.sketched() {
			p := &d.Pairs[r.matched]
			scale := math.Sqrt(math.Abs(r.ww * r.ll))
			if math.Abs(r.dot-p.Dot) > 1e-6*scale || math.Abs(r.ww-p.WW) > 1e-6*r.ww || math.Abs(r.ll-p.LL) > 1e-6*r.ll {
				e.warn(d.Step, where, "recomputed dot/norms (%g, %g, %g) differ from pairs.arrows (%g, %g, %g)", r.dot, r.ww, r.ll, p.Dot, p.WW, p.LL)
			}
		}
	}
	if e.opt.Table == TableTokens && e.batch != nil {
		return e.tokens(d)
	}
	return nil
}

// reduce computes dot and norms (and the first-order predictions against
// the update row) of every pair in e.gd, splitting the pairs among workers.
// Each pair is reduced by one goroutine in a fixed order, so results do not
// depend on the number of workers.
func (e *Engine) reduce(d *StepData, update int) {
	workers := e.opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sk := e.sketched()
	one := func(r *gradResult) {
		gw, gl := d.Grads[r.w].Grad, d.Grads[r.l].Grad
		r.dot, r.ww, r.ll = entangle.DotNorms(gw, gl)
		r.nonFiniteInput = !finite(r.dot) || !finite(r.ww) || !finite(r.ll)
		if sk {
			r.se = entangle.SketchStdErr(gw, gl)
		}
		if update >= 0 {
			r.predW, r.predL = entangle.Predict(gw, gl, d.Grads[update].Grad)
			r.hasPred = true
		}
	}
	if workers == 1 || len(e.gd) < 2 {
		for i := range e.gd {
			one(&e.gd[i])
		}
		return
	}
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(e.gd) {
					return
				}
				one(&e.gd[i])
			}
		}()
	}
	wg.Wait()
}

// tokens writes the token table rows of the step.
func (e *Engine) tokens(d *StepData) error {
	type key struct {
		kind string
		pair int64
	}
	var order []key
	rows := map[key]*[2][]int{}
	for i := range d.Grads {
		g := &d.Grads[i]
		if g.Token < 0 {
			continue
		}
		k := key{g.Kind, g.Pair}
		r, ok := rows[k]
		if !ok {
			r = &[2][]int{}
			rows[k] = r
			order = append(order, k)
		}
		switch g.Side {
		case "chosen":
			r[0] = append(r[0], i)
		case "rejected":
			r[1] = append(r[1], i)
		default:
			return fmt.Errorf("%s pair %d: token row with side %q", g.Kind, g.Pair, g.Side)
		}
	}
	b := e.batch
	est := e.sketched()
	for _, k := range order {
		r := rows[k]
		where := loc{kind: k.kind, pair: k.pair}
		if len(r[0]) == 0 || len(r[1]) == 0 {
			e.warn(d.Step, where, "per-token gradients for one side only")
			continue
		}
		for s := 0; s < 2; s++ {
			sort.SliceStable(r[s], func(a, c int) bool { return d.Grads[r[s][a]].Token < d.Grads[r[s][c]].Token })
		}
		nW, nL := len(r[0]), len(r[1])
		P := len(d.Grads[r[0][0]].Grad)
		need := (nW + nL) * P
		if cap(e.tokBuf) < need {
			e.tokBuf = make([]float32, need)
		}
		buf := e.tokBuf[:need]
		cw, cl := make([]bool, nW), make([]bool, nL)
		for s, side := range r {
			for t, i := range side {
				off := t * P
				if s == 1 {
					off += nW * P
				}
				copy(buf[off:off+P], d.Grads[i].Grad)
				c := d.Grads[i].Contrastive
				if c < 0 {
					e.warn(d.Step, where, "token %d: contrastive flag is null (counted as shared)", d.Grads[i].Token)
				}
				if s == 0 {
					cw[t] = c == 1
				} else {
					cl[t] = c == 1
				}
			}
		}
		if cap(e.cosBuf) < nW*nL {
			e.cosBuf = make([]float64, nW*nL)
		}
		cos := e.cosBuf[:nW*nL]
		entangle.CosineMatrix(cos, buf[:nW*P], buf[nW*P:], nW, nL, P)
		ts := entangle.TokenSummarize(cos, nW, nL, cw, cl, nil)
		if ts.NaN > 0 {
			e.warn(d.Step, where, "%d token cosines undefined (zero-norm or non-finite per-token gradients)", ts.NaN)
		}
		for i := 0; i < nW; i++ {
			gi := &d.Grads[r[0][i]]
			for j := 0; j < nL; j++ {
				gj := &d.Grads[r[1][j]]
				e.runCols(b, d.Step, k.kind)
				b.I(k.pair).B(est).I(int64(gi.Token)).I(int64(gj.Token))
				b.S(e.tokenString(gi.TokenID)).S(e.tokenString(gj.TokenID)).B(cw[i]).B(cl[j]).F(cos[i*nL+j])
				b.Null().Null().Null().Null().Null().Null()
				b.End()
			}
		}
		e.runCols(b, d.Step, k.kind)
		b.I(k.pair).B(est).I(-1).I(-1).Null().Null().Null().Null().Null()
		b.F(ts.ContrastiveMean).I(int64(ts.ContrastiveN)).F(ts.AlignedSharedMean).I(int64(ts.AlignedSharedN)).F(ts.OtherMean).I(int64(ts.OtherN))
		b.End()
	}
	return nil
}

func (e *Engine) tokenString(id int32) string {
	if id >= 0 && int(id) < len(e.run.Vocab) {
		return e.run.Vocab[id]
	}
	return fmt.Sprintf("<%d>", id)
}
