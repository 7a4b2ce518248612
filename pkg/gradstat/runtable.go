package gradstat

import (
	"math"
	"strings"

	"entangle/pkg/entangle"
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
		{k + "_logp_w_delta", Float, k + "_logp_w_last − " + k + "_logp_w_first"},
		{k + "_logp_l_first", Float, "mean log π(y_l|x) over " + rows + " of the first such step"},
		{k + "_logp_l_last", Float, "mean log π(y_l|x) at the last such step"},
		{k + "_logp_l_delta", Float, k + "_logp_l_last − " + k + "_logp_l_first"},
		{k + "_margin_delta", Float, "change of the mean margin: " + k + "_logp_w_delta − " + k + "_logp_l_delta"},
		{k + "_cos_first", Float, "mean over " + rows + " of cos(g_w,g_l) at the first step"},
		{k + "_cos_last", Float, "the same at the last step"},
		{k + "_cos_mean", Float, "mean over steps of the per-step mean cos (steps without a defined cos skipped)"},
		{k + "_case1", Float, "fraction of " + k + " pair-steps in paper case 1 (ideal), pooled over all steps"},
		{k + "_case2", Float, "fraction in case 2 (both fall)"},
		{k + "_case3", Float, "fraction in case 3 (both rise)"},
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
	FO                       FOStats
	Warnings                 int
}

// KindStats accumulates the rows of one kind (train or probe) of a run.
type KindStats struct {
	Steps                  int
	FirstW, FirstL         float64 // mean log-probs at the first step
	LastW, LastL           float64 // and at the last
	CosFirst, CosLast      float64 // per-step mean cos at the first and last step
	cosSum                 float64
	cosN                   int
	N                      int // pair-steps
	Cases, LossCases       [entangle.NumCases]int
	FellObs, Fell, FellPrd int // pair-steps with an observed change, where it fell, predicted to fall
	AgreeN, Agree          int // pair-steps with an observed change and a loss case; where the two agree on "chosen falls"
}

// CosMean returns the mean over steps of the per-step mean cos.
func (k *KindStats) CosMean() float64 { return k.cosSum / float64(k.cosN) }

// FOStats accumulates the first-order checks of the probe rows of a run.
type FOStats struct {
	PredW, ObsW, PredL, ObsL []float64
	RelW, RelL               []float64
	WrongWay                 int
}

// RunCollector gathers one RunStats per run from an Engine (Options.Runs)
// and turns them into the runs table.
type RunCollector struct {
	Runs []*RunStats
	cur  *RunStats
}

// NewRunCollector returns an empty collector.
func NewRunCollector() *RunCollector { return &RunCollector{} }

func (rc *RunCollector) begin(r *Run) {
	rc.cur = &RunStats{Label: r.Label, Path: r.Source, RunID: r.RunID, Loss: r.Loss, Kinds: map[string]*KindStats{}}
	rc.Runs = append(rc.Runs, rc.cur)
}

func (rc *RunCollector) end(warnings int) { rc.cur.Warnings = warnings }

// step adds one step: sums are the per-kind summaries of the engine.
func (rc *RunCollector) step(e *Engine, d *StepData, sums []StepSummary) {
	r := rc.cur
	r.Steps++
	for i := range sums {
		ss := &sums[i]
		k := r.Kinds[ss.Kind]
		if k == nil {
			k = &KindStats{FirstW: ss.LogpW, FirstL: ss.LogpL, CosFirst: ss.S.Cos.Mean}
			r.Kinds[ss.Kind] = k
		}
		k.Steps++
		k.LastW, k.LastL, k.CosLast = ss.LogpW, ss.LogpL, ss.S.Cos.Mean
		if finite(ss.S.Cos.Mean) {
			k.cosSum += ss.S.Cos.Mean
			k.cosN++
		}
	}
	for i := range d.Pairs {
		p, ps := &d.Pairs[i], &e.stats[i]
		k := r.Kinds[p.Kind]
		k.N++
		k.Cases[ps.Case]++
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
		if fo := &e.fos[i]; p.Kind == "probe" && fo.ok {
			f := &fo.fo
			r.FO.PredW = append(r.FO.PredW, f.PredW)
			r.FO.ObsW = append(r.FO.ObsW, f.ObsW)
			r.FO.PredL = append(r.FO.PredL, f.PredL)
			r.FO.ObsL = append(r.FO.ObsL, f.ObsL)
			r.FO.RelW = append(r.FO.RelW, f.RelErrW)
			r.FO.RelL = append(r.FO.RelL, f.RelErrL)
			if f.PredW-f.PredL < 0 {
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

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// LabelKeys returns the keys of the key=value labels of the runs in order of
// first appearance.
func LabelKeys(labels []string) []string {
	var keys []string
	seen := map[string]bool{}
	for _, l := range labels {
		for _, kv := range strings.Split(l, "/") {
			if k, _, ok := strings.Cut(kv, "="); ok && k != "" && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func labelValue(label, key string) (string, bool) {
	v, ok := "", false
	for _, kv := range strings.Split(label, "/") {
		if k, val, has := strings.Cut(kv, "="); has && k == key {
			v, ok = val, true // the innermost occurrence wins
		}
	}
	return v, ok
}

// Table returns the runs table: one row per run in the order the runs were
// read, with one label column per key of LabelKeys.
func (rc *RunCollector) Table() *Batch {
	labels := make([]string, len(rc.Runs))
	for i, r := range rc.Runs {
		labels[i] = r.Label
	}
	keys := LabelKeys(labels)
	b := NewBatch(RunColumns(keys))
	for _, r := range rc.Runs {
		for _, k := range keys {
			if v, ok := labelValue(r.Label, k); ok {
				b.S(v)
			} else {
				b.Null()
			}
		}
		b.S(r.Label).S(r.Path).S(r.RunID).S(r.Loss).I(int64(r.Steps))
		for _, kind := range runKinds {
			k := r.Kinds[kind]
			if k == nil {
				b.I(0)
				for range kindRunCols(kind)[1:] {
					b.Null()
				}
				continue
			}
			b.I(int64(k.Steps))
			b.F(k.FirstW).F(k.LastW).F(k.LastW - k.FirstW)
			b.F(k.FirstL).F(k.LastL).F(k.LastL - k.FirstL)
			b.F((k.LastW - k.FirstW) - (k.LastL - k.FirstL))
			b.F(k.CosFirst).F(k.CosLast).F(k.CosMean())
			n := float64(k.N)
			for c := 1; c <= 3; c++ {
				b.F(float64(k.Cases[c]) / n)
			}
			for c := 1; c <= 4; c++ {
				b.F(float64(k.LossCases[c]) / n)
			}
			b.F(float64(k.Fell) / float64(k.FellObs))
			b.F(float64(k.FellPrd) / n)
			b.F(float64(k.Agree) / float64(k.AgreeN))
		}
		fo := &r.FO
		b.I(int64(len(fo.RelW)))
		b.F(Pearson(fo.PredW, fo.ObsW)).F(Pearson(fo.PredL, fo.ObsL))
		b.F(mean(fo.RelW)).F(mean(fo.RelL))
		if p := r.Kinds["probe"]; p != nil {
			b.I(int64(fo.WrongWay))
		} else {
			b.Null()
		}
		b.I(int64(r.Warnings))
		b.End()
	}
	return b
}
