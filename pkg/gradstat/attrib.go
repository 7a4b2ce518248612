package gradstat

import (
	"math"

	"entangle/pkg/runfmt"
)

// AttribColumns are the columns of the attrib table: one row per run, dump
// step, probe pair and training pair of attrib.arrows (train -attrib); kind
// is "probe".
var AttribColumns = cols(runCols, []Column{
	{"probe", Int, "probe pair id (the pair whose change is attributed)"},
	{"pair", Int, "training pair id (one of the step's batch)"},
	{"own", Bool, "pair = probe (the probe is itself in the batch; never for held-out probes)"},
	{"batch", Int, "B, the pairs of the step"},
	{"ww", Float, "⟨g_w^p, g_w,i⟩ (p the probe, i the training pair); with train -attrib-update ⟨P g_w^p, g_w,i⟩, P the step's diagonal preconditioner (lr included), and so for wl, lw, ll"},
	{"wl", Float, "⟨g_w^p, g_l,i⟩"},
	{"lw", Float, "⟨g_l^p, g_w,i⟩"},
	{"ll", Float, "⟨g_l^p, g_l,i⟩"},
	{"cw", Float, "coefficient of g_w,i the step applied (pairs.arrows cw)"},
	{"cl", Float, "coefficient of g_l,i (pairs.arrows cl)"},
	{"contrib_w", Float, "(cw·ww − cl·wl)/B: pair i's share of the first-order change of the probe's log π_w per unit SGD step size; with -attrib-update its share of ⟨g_w^p, Δθ⟩ under the step taken"},
	{"contrib_l", Float, "(cw·lw − cl·ll)/B: the same for the probe's log π_l"},
	{"sum_w", Float, "Σ of contrib_w over the step's training pairs (the same on every row of the step and probe): ⟨g_w^p, −dst⟩"},
	{"sum_l", Float, "Σ of contrib_l over the step's training pairs"},
	{"hist_w", Float, "-attrib-update: ⟨g_w^p, h⟩, the part of ⟨g_w^p, Δθ⟩ not from this step's pairs (Adam's momentum carried over, weight decay; 0 under plain SGD); null with -attrib"},
	{"hist_l", Float, "-attrib-update: ⟨g_l^p, h⟩; null with -attrib"},
	{"lr", Float, "the step's learning rate (steps.arrows; null without it)"},
	{"pred_w", Float, "the probe's pred_w = ⟨g_w^p, Δθ⟩ (pairs.arrows; null without it): equals lr·sum_w under SGD without clipping (-attrib), sum_w + hist_w under any optimizer (-attrib-update)"},
	{"pred_l", Float, "the probe's pred_l: equals lr·sum_l under SGD without clipping"},
})

// attribRows writes the attrib table's rows of a step: per attrib.arrows row
// (probe p, training pair i) the contributions
//
//	contrib_w = (cw·ww − cl·wl)/B,   contrib_l = (cw·lw − cl·ll)/B
//
// (pkg/pref: the batch direction is dst = (1/B)Σ_i(−cw_i g_w,i + cl_i g_l,i),
// so Σ_i contrib_w = ⟨g_w^p, −dst⟩, the probe's first-order change per unit
// SGD step size), their per-(step, probe) sums in row order, and the step's
// lr and the probe's pred_w, pred_l when steps.arrows and pairs.arrows hold
// them.
func (e *Engine) attribRows(d *StepData) {
	if len(d.Attrib) == 0 {
		return
	}
	lr := math.NaN()
	for _, s := range d.Steps {
		if s.Kind == "train" {
			lr = s.LR
		}
	}
	var sums []attribSum
	for _, r := range d.Attrib {
		s := findSum(&sums, r.Probe)
		cw, cl := Contributions(&r)
		s.w += cw
		s.l += cl
	}
	for i := range sums {
		s := &sums[i]
		s.predW, s.predL = math.NaN(), math.NaN()
		for _, p := range d.Pairs {
			if p.Kind == "probe" && p.Pair == s.probe {
				s.predW, s.predL = p.PredW, p.PredL
			}
		}
	}
	for _, r := range d.Attrib {
		s := findSum(&sums, r.Probe)
		cw, cl := Contributions(&r)
		b := e.row(d.Step, "probe")
		b.Int("probe", r.Probe)
		b.Int("pair", r.Pair)
		b.Bool("own", r.Pair == r.Probe)
		b.Int("batch", int64(r.Batch))
		b.Float("ww", r.WW)
		b.Float("wl", r.WL)
		b.Float("lw", r.LW)
		b.Float("ll", r.LL)
		b.Float("cw", r.CW)
		b.Float("cl", r.CL)
		b.Float("contrib_w", cw)
		b.Float("contrib_l", cl)
		b.Float("sum_w", s.w)
		b.Float("sum_l", s.l)
		b.Float("hist_w", r.HistW) // NaN (null) with -attrib
		b.Float("hist_l", r.HistL)
		b.Float("lr", lr)
		b.Float("pred_w", s.predW)
		b.Float("pred_l", s.predL)
		b.End()
	}
}

// Contributions returns training pair r.Pair's shares of the first-order
// changes of probe r.Probe's log π_w and log π_l per unit SGD step size:
// (cw·ww − cl·wl)/B and (cw·lw − cl·ll)/B.
func Contributions(r *runfmt.AttribRow) (w, l float64) {
	B := float64(r.Batch)
	return (r.CW*r.WW - r.CL*r.WL) / B, (r.CW*r.LW - r.CL*r.LL) / B
}

type attribSum struct {
	probe        int64
	w, l         float64
	predW, predL float64
}

func findSum(sums *[]attribSum, probe int64) *attribSum {
	for i := range *sums {
		if (*sums)[i].probe == probe {
			return &(*sums)[i]
		}
	}
	*sums = append(*sums, attribSum{probe: probe})
	return &(*sums)[len(*sums)-1]
}
