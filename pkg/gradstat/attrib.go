package gradstat

import (
	"math"

	"entangle/pkg/runfmt"
)

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
	b := e.batch
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
		e.runCols(b, d.Step, "probe")
		b.I(r.Probe).I(r.Pair).B(r.Pair == r.Probe).I(int64(r.Batch))
		b.F(r.WW).F(r.WL).F(r.LW).F(r.LL).F(r.CW).F(r.CL).F(cw).F(cl).F(s.w).F(s.l).F(lr).F(s.predW).F(s.predL)
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
