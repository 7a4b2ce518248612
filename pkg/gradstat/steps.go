package gradstat

import (
	"math"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// distCols returns the mean/median/quantile columns of a statistic.
func distCols(name, doc string) []Column {
	return []Column{
		{name + "_mean", Float, "mean over pairs of " + doc},
		{name + "_median", Float, "median over pairs of " + doc},
		{name + "_q05", Float, "5% quantile (type 7) of " + doc},
		{name + "_q25", Float, "25% quantile of " + doc},
		{name + "_q75", Float, "75% quantile of " + doc},
		{name + "_q95", Float, "95% quantile of " + doc},
	}
}

// StepColumns are the columns of the steps table: one row per run, step and
// kind, summarizing the pairs of pairs.arrows.
var StepColumns = cols(runCols, []Column{{"n", Int, "pairs in the step (of this kind)"}},
	distCols("cos", "cos"), distCols("R", "R"), []Column{
		{"case1", Float, "fraction of pairs in paper case 1 (ideal)"},
		{"case2", Float, "fraction in case 2 (both fall)"},
		{"case3", Float, "fraction in case 3 (both rise)"},
		{"loss_case1", Float, "fraction in loss-aware case 1"},
		{"loss_case2", Float, "fraction in loss-aware case 2"},
		{"loss_case3", Float, "fraction in loss-aware case 3"},
		{"loss_case4", Float, "fraction in loss-aware case 4 (chosen falls, rejected rises)"},
		{"undefined", Float, "fraction whose case is undefined (NaN inputs)"},
		{"logp_w_mean", Float, "mean log π(y_w|x) of the pairs"},
		{"logp_l_mean", Float, "mean log π(y_l|x) of the pairs"},
		{"batch_dot", Float, "train rows: ⟨ḡ_w,ḡ_l⟩ of the batch-mean gradients (steps.arrows)"},
		{"batch_cos", Float, "train rows: batch_dot/√(batch_ww·batch_ll) (steps.arrows)"},
		{"batch_cos_mean", Float, "train rows: steps.arrows cos_mean (train's own per-pair mean, a cross-check of cos_mean)"},
		{"fo_n", Int, "probe rows: pairs with a first-order check (pred and obs present)"},
		{"fo_relerr_w_median", Float, "probe rows: median relerr_w"},
		{"fo_relerr_l_median", Float, "probe rows: median relerr_l"},
		{"fo_match", Float, "probe rows: fraction with case_match"},
		{"warned", Int, "pairs with at least one warning"},
	})

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
			if fo := &e.fos[i]; fo.OK {
				ss.FoN++
				relW = append(relW, fo.RelErrW)
				relL = append(relL, fo.RelErrL)
				if fo.Match {
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

// stepRows writes the steps table's rows of a step: one per kind.
func (e *Engine) stepRows(d *StepData) {
	for _, ss := range e.summaries(d) {
		s := &ss.S
		b := e.row(d.Step, ss.Kind)
		b.Int("n", int64(s.N))
		distValues(b, "cos", &s.Cos)
		distValues(b, "R", &s.R)
		b.Float("case1", s.CaseFrac[1])
		b.Float("case2", s.CaseFrac[2])
		b.Float("case3", s.CaseFrac[3])
		b.Float("loss_case1", s.LossCaseFrac[1])
		b.Float("loss_case2", s.LossCaseFrac[2])
		b.Float("loss_case3", s.LossCaseFrac[3])
		b.Float("loss_case4", s.LossCaseFrac[4])
		b.Float("undefined", s.CaseFrac[0])
		b.Float("logp_w_mean", ss.LogpW)
		b.Float("logp_l_mean", ss.LogpL)
		if ss.Batch != nil {
			b.Float("batch_dot", ss.Batch.BatchDot)
			b.Float("batch_cos", ss.BatchCos)
			b.Float("batch_cos_mean", ss.Batch.CosMean)
		}
		b.Int("fo_n", int64(ss.FoN))
		if ss.FoN > 0 {
			b.Float("fo_relerr_w_median", ss.FoRelErrW.Median)
			b.Float("fo_relerr_l_median", ss.FoRelErrL.Median)
			b.Float("fo_match", ss.FoMatch)
		}
		b.Int("warned", int64(ss.Warned))
		b.End()
	}
}

// distValues sets the columns of distCols(name).
func distValues(b *Batch, name string, d *entangle.Dist) {
	b.Float(name+"_mean", d.Mean)
	b.Float(name+"_median", d.Median)
	b.Float(name+"_q05", d.Q05)
	b.Float(name+"_q25", d.Q25)
	b.Float(name+"_q75", d.Q75)
	b.Float(name+"_q95", d.Q95)
}
