package gradstat

import (
	"fmt"
	"math"
	"slices"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// TableRuns is the name of the per-run table (-table runs).
const TableRuns = "runs"

// runKinds are the kinds of pairs.arrows rows the runs table reports on, in
// column order.
var runKinds = []string{"train", "probe"}

// runIDCols are the identity columns of the runs table after the label
// columns.
var runIDCols = []Column{
	{"run", String, "run label: the sweep's key=value path parts joined by /"},
	{"path", String, "run directory (or stream file) the run was read from"},
	{"run_id", String, "train's run_id (hash of the resolved train config)"},
	{"loss_fn", String, "loss name from the run's metadata (\"\" for sft)"},
}

// kindRunCols returns the per-kind columns of the runs table for kind k.
func kindRunCols(k string) []Column {
	rows := "the " + k + " pairs"
	c := []Column{
		{k + "_steps", Int, "steps with " + k + " rows"},
		{k + "_logp_w_first", Float, "mean log π(y_w|x) over " + rows + " of the first such step"},
		{k + "_logp_w_last", Float, "mean log π(y_w|x) at the last such step"},
		{k + "_logp_w_delta", Float, "change of the mean log π(y_w|x) over " + rows + " from the first to the last step with " + k + " rows: " + k + "_logp_w_last − " + k + "_logp_w_first"},
		{k + "_logp_l_first", Float, "mean log π(y_l|x) over " + rows + " of the first such step"},
		{k + "_logp_l_last", Float, "mean log π(y_l|x) at the last such step"},
		{k + "_logp_l_delta", Float, "the same for log π(y_l|x): " + k + "_logp_l_last − " + k + "_logp_l_first"},
		{k + "_margin_delta", Float, "change of the mean margin: " + k + "_logp_w_delta − " + k + "_logp_l_delta"},
		{k + "_cos_first", Float, "mean over " + rows + " of cos(g_w,g_l) at the first step"},
		{k + "_cos_last", Float, "the same at the last step"},
		{k + "_cos_mean", Float, "mean over steps of the per-step mean cos (steps without a defined cos skipped)"},
		{k + "_case1", Float, "fraction of " + k + " pair-steps in paper case 1 (ideal), pooled over all steps"},
		{k + "_case2", Float, "fraction in case 2 (both fall)"},
		{k + "_case3", Float, "fraction in case 3 (both rise)"},
		{k + "_norm_l_larger", Float, "fraction of " + k + " pair-steps with ‖g_l‖ > ‖g_w‖ (the rejected gradient the longer; pair-steps without both norms skipped)"},
		{k + "_loss_case1", Float, "fraction in loss-aware case 1 (the update's own d_w, d_l; normalized under -normalize)"},
		{k + "_loss_case2", Float, "fraction in loss-aware case 2"},
		{k + "_loss_case3", Float, "fraction in loss-aware case 3"},
		{k + "_loss_case4", Float, "fraction in loss-aware case 4 (chosen falls, rejected rises)"},
		{k + "_chosen_fell", Float, "fraction of " + k + " pair-steps with an observed after-step log-prob where log π(y_w|x) fell (null if none observed)"},
		{k + "_chosen_fell_pred", Float, "fraction of " + k + " pair-steps whose loss-aware first-order SGD prediction lowers log π(y_w|x) (loss case 2 or 4)"},
		{k + "_fell_agree", Float, "fraction of " + k + " pair-steps with an observed after-step log-prob and a defined loss case where the pair's own condition (chosen falls ⇔ loss case 2 or 4) agrees with what was observed (null if none)"},
	}
	if k == "train" {
		c[0].Doc = "steps with train rows"
	}
	return c
}

// runFOCols are the first-order columns of the runs table (probe rows).
var runFOCols = []Column{
	{"fo_n", Int, "probe pair-steps with a first-order check (pred and observed change present)"},
	{"fo_corr_w", Float, "Pearson correlation over those pair-steps of pred_w = ⟨g_w,Δθ⟩ and obs_w = Δlog π(y_w|x) (null if fewer than 2 or no spread)"},
	{"fo_corr_l", Float, "the same for the rejected: pred_l vs obs_l"},
	{"fo_relerr_w_mean", Float, "mean of relerr_w = |obs_w−pred_w|/max(|pred_w|,|obs_w|) over those pair-steps"},
	{"fo_relerr_l_mean", Float, "mean of relerr_l"},
	{"fo_relerr_w_median", Float, "median of relerr_w (type-7 quantiles, as entangle.Quantile)"},
	{"fo_relerr_w_p90", Float, "90th percentile of relerr_w: the worst decile of pair-steps is at or above it"},
	{"fo_relerr_l_median", Float, "median of relerr_l"},
	{"fo_relerr_l_p90", Float, "90th percentile of relerr_l"},
	{"fo_resid_w_median", Float, "median over those pair-steps of |obs_w − pred_w|, the first-order residual (second order in the step size)"},
	{"fo_resid_l_median", Float, "median of |obs_l − pred_l|"},
	{"fo_wrong_way", Int, "probe pair-steps whose first-order predicted margin change pred_w − pred_l is negative (the update moved the held-out pair the wrong way to first order; can be nonzero for any loss, normalized updates included, because the batch update acts on a probe only through cross-pair terms); null without probes"},
	{"warnings", Int, "warnings of the run (printed on stderr)"},
}

// RunColumns returns the columns of the runs table for a sweep whose labels
// have the given keys: one utf8 column per key (named by the key, prefixed
// "label_" if that name is taken by a fixed column), then the fixed columns.
func RunColumns(keys []string) []Column {
	fixed := runFixedCols()
	taken := map[string]bool{}
	for _, c := range fixed {
		taken[c.Name] = true
	}
	var out []Column
	for _, k := range keys {
		name := k
		if taken[name] {
			name = "label_" + k
		}
		out = append(out, Column{name, String, "sweep label " + k + " (the value of " + k + "=… in the run's path; null if absent)"})
	}
	return append(out, fixed...)
}

func runFixedCols() []Column {
	c := cols(runIDCols, []Column{{"steps", Int, "steps read (of any kind)"}})
	for _, k := range runKinds {
		c = append(c, kindRunCols(k)...)
	}
	return append(c, runFOCols...)
}

// RunStats is the headline statistics of one run, the source of one row of
// the runs table (RunCollector).
type RunStats struct {
	Label, Path, RunID, Loss string
	Steps                    int
	Kinds                    map[string]*KindStats
	KindOrder                []string // the kinds in order of first appearance
	FO                       FOStats
	Warnings                 int
}

// KindStats accumulates the rows of one kind (train or probe) of a run.
type KindStats struct {
	Steps                  int
	FirstStep, LastStep    int64   // the first and last step with rows of the kind
	FirstW, FirstL         float64 // mean log-probs at the first step
	LastW, LastL           float64 // and at the last
	CosFirst, CosLast      float64 // per-step mean cos at the first and last step
	cosSum                 float64
	cosN                   int
	N                      int // pair-steps
	Cases, LossCases       [entangle.NumCases]int
	FellObs, Fell, FellPrd int // pair-steps with an observed change, where it fell, predicted to fall
	AgreeN, Agree          int // pair-steps with an observed change and a loss case; where the two agree on "chosen falls"
	NormN, NormLLarger     int // pair-steps with both norms; where ‖g_l‖ > ‖g_w‖
}

// CosMean returns the mean over steps of the per-step mean cos.
func (k *KindStats) CosMean() float64 { return k.cosSum / float64(k.cosN) }

// Span says which steps and pairs the headline figures of a kind cover:
// "steps 1..11 (2 steps, 16 pair-steps)".
func (k *KindStats) Span() string {
	return fmt.Sprintf("steps %d..%d (%d steps, %d pair-steps)", k.FirstStep, k.LastStep, k.Steps, k.N)
}

// Figure is a named number.
type Figure struct {
	Name  string
	Value float64
}

// Headline returns the headline figures of a run's rows of kind, named by
// their runs-table columns: the changes of the mean chosen and rejected
// log-probs and of the mean margin from the first to the last step with
// rows of the kind (the mean over the kind's pairs at each of the two steps;
// probe pairs are the same at every dump step, train pairs are each step's
// batch), the mean over steps of the per-step mean cos, and the pooled
// loss-aware case fractions. The -summary view, the runs table and plot's
// report all print these.
func (k *KindStats) Headline(kind string) []Figure {
	n := float64(k.N)
	return []Figure{
		{kind + "_logp_w_delta", k.LastW - k.FirstW},
		{kind + "_logp_l_delta", k.LastL - k.FirstL},
		{kind + "_margin_delta", (k.LastW - k.FirstW) - (k.LastL - k.FirstL)},
		{kind + "_cos_mean", k.CosMean()},
		{kind + "_loss_case1", float64(k.LossCases[1]) / n},
		{kind + "_loss_case2", float64(k.LossCases[2]) / n},
		{kind + "_loss_case3", float64(k.LossCases[3]) / n},
		{kind + "_loss_case4", float64(k.LossCases[4]) / n},
	}
}

// FOStats accumulates the first-order checks of the probe rows of a run.
type FOStats struct {
	PredW, ObsW, PredL, ObsL []float64
	RelW, RelL               []float64
	WrongWay                 int
}

// RunCollector gathers one RunStats per run from an Engine (a Collector)
// and turns them into the runs table.
type RunCollector struct {
	Runs []*RunStats
	cur  *RunStats
}

// NewRunCollector returns an empty collector.
func NewRunCollector() *RunCollector { return &RunCollector{} }

// BeginRun starts the RunStats of r.
func (rc *RunCollector) BeginRun(r *Run) {
	rc.cur = &RunStats{Label: r.Label, Path: r.Source, RunID: r.RunID, Loss: r.Loss, Kinds: map[string]*KindStats{}}
	rc.Runs = append(rc.Runs, rc.cur)
}

// EndRun records the run's warnings.
func (rc *RunCollector) EndRun(warnings int) error {
	rc.cur.Warnings = warnings
	return nil
}

// Step adds one step.
func (rc *RunCollector) Step(v *StepView) {
	r := rc.cur
	r.Steps++
	for i := range v.Summaries {
		ss := &v.Summaries[i]
		k := r.Kinds[ss.Kind]
		if k == nil {
			k = &KindStats{FirstStep: ss.Step, FirstW: ss.LogpW, FirstL: ss.LogpL, CosFirst: ss.S.Cos.Mean}
			r.Kinds[ss.Kind] = k
			r.KindOrder = append(r.KindOrder, ss.Kind)
		}
		k.Steps++
		k.LastStep, k.LastW, k.LastL, k.CosLast = ss.Step, ss.LogpW, ss.LogpL, ss.S.Cos.Mean
		if finite(ss.S.Cos.Mean) {
			k.cosSum += ss.S.Cos.Mean
			k.cosN++
		}
	}
	for i := range v.Pairs {
		p, ps := &v.Pairs[i], &v.Stats[i]
		k := r.Kinds[p.Kind]
		k.N++
		k.Cases[ps.Case]++
		if finite(p.WW) && finite(p.LL) {
			k.NormN++
			if p.LL > p.WW {
				k.NormLLarger++
			}
		}
		if finite(ps.DW) && finite(ps.DL) {
			k.LossCases[ps.LossCase]++
		}
		if lc := ps.LossCase; finite(ps.DW) && finite(ps.DL) && (lc == 2 || lc == 4) {
			k.FellPrd++
		}
		if finite(p.LogpWAfter) && finite(p.LogpW) {
			k.FellObs++
			fell := p.LogpWAfter < p.LogpW
			if fell {
				k.Fell++
			}
			if lc := ps.LossCase; finite(ps.DW) && finite(ps.DL) && lc != 0 {
				k.AgreeN++
				if fell == (lc == 2 || lc == 4) {
					k.Agree++
				}
			}
		}
		if fo := &v.FO[i]; p.Kind == "probe" && fo.OK {
			r.FO.PredW = append(r.FO.PredW, fo.PredW)
			r.FO.ObsW = append(r.FO.ObsW, fo.ObsW)
			r.FO.PredL = append(r.FO.PredL, fo.PredL)
			r.FO.ObsL = append(r.FO.ObsL, fo.ObsL)
			r.FO.RelW = append(r.FO.RelW, fo.RelErrW)
			r.FO.RelL = append(r.FO.RelL, fo.RelErrL)
			if fo.PredW-fo.PredL < 0 {
				r.FO.WrongWay++
			}
		}
	}
}

// Pearson returns the sample correlation of x and y (two-pass, in index
// order), NaN if fewer than two points or either has no spread.
func Pearson(x, y []float64) float64 {
	n := len(x)
	if n < 2 || len(y) != n {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// quantile is entangle.Quantile of a sorted copy of x (NaN if x is empty).
func quantile(x []float64, p float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return entangle.Quantile(s, p)
}

// absDiff returns |a_i − b_i|.
func absDiff(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = math.Abs(a[i] - b[i])
	}
	return d
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// Table returns the runs table: one row per run in the order the runs were
// read, with one label column per key of runfmt.LabelKeys.
func (rc *RunCollector) Table() *Batch {
	labels := make([]string, len(rc.Runs))
	for i, r := range rc.Runs {
		labels[i] = r.Label
	}
	keys := runfmt.LabelKeys(labels)
	cols := RunColumns(keys)
	b := NewBatch(cols)
	for _, r := range rc.Runs {
		b.Row()
		for i, k := range keys {
			if v, ok := runfmt.LabelValue(r.Label, k); ok {
				b.SetStr(i, v) // the label columns come first (RunColumns)
			}
		}
		b.Str("run", r.Label)
		b.Str("path", r.Path)
		b.Str("run_id", r.RunID)
		b.Str("loss_fn", r.Loss)
		b.Int("steps", int64(r.Steps))
		for _, kind := range runKinds {
			k := r.Kinds[kind]
			if k == nil {
				b.Int(kind+"_steps", 0)
				continue
			}
			for _, h := range k.Headline(kind) {
				b.Float(h.Name, h.Value)
			}
			b.Int(kind+"_steps", int64(k.Steps))
			b.Float(kind+"_logp_w_first", k.FirstW)
			b.Float(kind+"_logp_w_last", k.LastW)
			b.Float(kind+"_logp_l_first", k.FirstL)
			b.Float(kind+"_logp_l_last", k.LastL)
			b.Float(kind+"_cos_first", k.CosFirst)
			b.Float(kind+"_cos_last", k.CosLast)
			n := float64(k.N)
			for c := 1; c <= 3; c++ {
				b.Float(fmt.Sprintf("%s_case%d", kind, c), float64(k.Cases[c])/n)
			}
			b.Float(kind+"_norm_l_larger", float64(k.NormLLarger)/float64(k.NormN))
			b.Float(kind+"_chosen_fell", float64(k.Fell)/float64(k.FellObs))
			b.Float(kind+"_chosen_fell_pred", float64(k.FellPrd)/n)
			b.Float(kind+"_fell_agree", float64(k.Agree)/float64(k.AgreeN))
		}
		fo := &r.FO
		b.Int("fo_n", int64(len(fo.RelW)))
		b.Float("fo_corr_w", Pearson(fo.PredW, fo.ObsW))
		b.Float("fo_corr_l", Pearson(fo.PredL, fo.ObsL))
		b.Float("fo_relerr_w_mean", mean(fo.RelW))
		b.Float("fo_relerr_l_mean", mean(fo.RelL))
		b.Float("fo_relerr_w_median", quantile(fo.RelW, 0.5))
		b.Float("fo_relerr_w_p90", quantile(fo.RelW, 0.9))
		b.Float("fo_relerr_l_median", quantile(fo.RelL, 0.5))
		b.Float("fo_relerr_l_p90", quantile(fo.RelL, 0.9))
		b.Float("fo_resid_w_median", quantile(absDiff(fo.ObsW, fo.PredW), 0.5))
		b.Float("fo_resid_l_median", quantile(absDiff(fo.ObsL, fo.PredL), 0.5))
		if r.Kinds["probe"] != nil {
			b.Int("fo_wrong_way", int64(fo.WrongWay))
		}
		b.Int("warnings", int64(r.Warnings))
		b.End()
	}
	return b
}
