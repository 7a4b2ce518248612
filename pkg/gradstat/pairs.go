package gradstat

import (
	"math"

	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// PairColumns are the columns of the pairs table: one row per pair, step and
// source (pairs.arrows, and the recomputation from grads.arrows).
var PairColumns = cols(runCols, []Column{
	{"pair", Int, "example id"},
	{"source", String, "pairs (train's exact reductions from pairs.arrows) or grads (recomputed by gradstat from grads.arrows sequence rows)"},
	{"estimate", Bool, "true when the row comes from sketched gradients (grads.arrows sketch:K): dot, norms and everything derived are JL estimates"},
	{"dot", Float, "I = ⟨g_w,g_l⟩"},
	{"dot_se", Float, "standard error of dot (sketch: √((‖Sg_w‖²‖Sg_l‖²+⟨Sg_w,Sg_l⟩²)/K), conservative); 0 when exact"},
	{"norm_w", Float, "‖g_w‖"},
	{"norm_l", Float, "‖g_l‖"},
	{"cos", Float, "I/(‖g_w‖‖g_l‖)"},
	{"norm_ratio", Float, "‖g_l‖/‖g_w‖"},
	{"chosen_ratio", Float, "I/‖g_w‖² (≤ 1 ⇔ chosen rises under DPO)"},
	{"rejected_ratio", Float, "I/‖g_l‖² (≤ 1 ⇔ rejected falls under DPO)"},
	{"R", Float, "I/min(‖g_w‖²,‖g_l‖²) (paper §3.2; case 1 ⇔ R ≤ 1)"},
	{"case", Int, "paper Table 1 case with d_w = d_l: 1 ideal, 2 both fall, 3 both rise, 0 undefined"},
	{"loss_case", Int, "case with the weights the update applied, d_w, d_l (the pairwise-normalized ones under -normalize; 4 = chosen falls and rejected rises; 0 undefined or weights unknown)"},
	{"dw", Float, "d_w = −∂ℓ/∂log π_w, the coefficient of g_w in the update (under -normalize the normalized one, train's cw)"},
	{"dl", Float, "d_l = +∂ℓ/∂log π_l (under -normalize train's cl)"},
	{"pred_dw_sgd", Float, "d_w‖g_w‖² − d_l I: first-order change of log π_w per unit SGD step size"},
	{"pred_dl_sgd", Float, "d_w I − d_l‖g_l‖²: first-order change of log π_l per unit SGD step size"},
	{"logp_w", Float, "log π(y_w|x) before the step"},
	{"logp_l", Float, "log π(y_l|x) before the step"},
	{"pred_w", Float, "probe: ⟨g_w,Δθ⟩ for the update actually applied (train's, or recomputed from the update row for source grads)"},
	{"pred_l", Float, "probe: ⟨g_l,Δθ⟩"},
	{"obs_w", Float, "probe: observed change logp_w_after − logp_w"},
	{"obs_l", Float, "probe: observed change logp_l_after − logp_l"},
	{"relerr_w", Float, "probe: |obs−pred|/max(|pred|,|obs|) for the chosen (≤ 1 ⇔ signs agree)"},
	{"relerr_l", Float, "probe: the same for the rejected"},
	{"relerr_margin", Float, "probe: the same for the margin change (w − l)"},
	{"pred_case", Int, "probe: case of the signs of (pred_w, pred_l)"},
	{"obs_case", Int, "probe: case of the signs of (obs_w, obs_l)"},
	{"case_match", Bool, "probe: pred_case == obs_case"},
	{"ches", Float, "CHES (Razin et al. 2024): ⟨H_w,H_l⟩ − ‖H_w‖² of the summed final hidden states"},
	{"ches_norm", Float, "length-normalized CHES: ⟨H_w/n_w,H_l/n_l⟩ − ‖H_w/n_w‖²"},
	{"warnings", Int, "number of warnings for this row (printed on stderr)"},
})

// pairRows writes the pairs table's rows of a step: one per pairs.arrows
// row, then one per pair recomputed from grads.arrows sequence gradients.
func (e *Engine) pairRows(d *StepData) {
	for i := range d.Pairs {
		p, ps, fo := &d.Pairs[i], &e.stats[i], &e.fos[i]
		b := e.row(d.Step, p.Kind)
		b.Int("pair", p.Pair)
		b.Str("source", "pairs")
		b.Bool("estimate", false)
		pairStatCols(b, ps, 0)
		b.Float("logp_w", p.LogpW)
		b.Float("logp_l", p.LogpL)
		if fo.OK {
			firstOrderCols(b, &fo.FirstOrderCheck)
		}
		nw := len(ps.Warnings)
		if len(p.HidW) > 0 {
			s, sn, err := entangle.CHES(p.HidW, p.HidL, int(p.LenW), int(p.LenL))
			if err != nil {
				e.warn(d.Step, loc{kind: p.Kind, pair: p.Pair}, "CHES: %v", err)
				nw++
			}
			b.Float("ches", s)
			b.Float("ches_norm", sn)
		}
		b.Int("warnings", int64(nw))
		b.End()
	}
	for i := range e.gd {
		g := &e.gd[i]
		ps := entangle.Pair(g.dot, g.ww, g.ll, math.NaN(), math.NaN())
		var p *runfmt.PairRow
		b := e.row(d.Step, g.kind)
		b.Int("pair", g.pair)
		b.Str("source", "grads")
		b.Bool("estimate", e.sketched())
		if g.matched >= 0 {
			p = &d.Pairs[g.matched]
			ps = entangle.Pair(g.dot, g.ww, g.ll, p.CW, p.CL)
			b.Float("logp_w", p.LogpW)
			b.Float("logp_l", p.LogpL)
		}
		pairStatCols(b, &ps, g.se)
		switch {
		case g.hasPred && p != nil && finite(p.LogpWAfter) && finite(p.LogpLAfter):
			f := entangle.FirstOrder(g.predW, g.predL, p.LogpWAfter-p.LogpW, p.LogpLAfter-p.LogpL)
			firstOrderCols(b, &f)
		case g.hasPred: // no observed change: the prediction alone
			b.Float("pred_w", g.predW)
			b.Float("pred_l", g.predL)
			b.Int("pred_case", int64(entangle.CaseOf(g.predW, g.predL)))
		}
		// ches, ches_norm: from pairs.arrows only.
		b.Int("warnings", int64(len(ps.Warnings)))
		b.End()
	}
}

// pairStatCols sets dot … pred_dl_sgd of a pair's statistics.
func pairStatCols(b *Batch, ps *entangle.PairStats, se float64) {
	b.Float("dot", ps.Dot)
	b.Float("dot_se", se)
	b.Float("norm_w", ps.NormW)
	b.Float("norm_l", ps.NormL)
	b.Float("cos", ps.Cos)
	b.Float("norm_ratio", ps.NormRatio)
	b.Float("chosen_ratio", ps.ChosenRatio)
	b.Float("rejected_ratio", ps.RejectedRatio)
	b.Float("R", ps.R)
	b.Int("case", int64(ps.Case))
	lossCase := int64(0) // weights unknown
	if finite(ps.DW) && finite(ps.DL) {
		lossCase = int64(ps.LossCase)
	}
	b.Int("loss_case", lossCase)
	b.Float("dw", ps.DW)
	b.Float("dl", ps.DL)
	b.Float("pred_dw_sgd", ps.DeltaW)
	b.Float("pred_dl_sgd", ps.DeltaL)
}

// firstOrderCols sets pred_w … case_match of a first-order check.
func firstOrderCols(b *Batch, f *entangle.FirstOrderCheck) {
	b.Float("pred_w", f.PredW)
	b.Float("pred_l", f.PredL)
	b.Float("obs_w", f.ObsW)
	b.Float("obs_l", f.ObsL)
	b.Float("relerr_w", f.RelErrW)
	b.Float("relerr_l", f.RelErrL)
	b.Float("relerr_margin", f.RelErrMargin)
	b.Int("pred_case", int64(f.PredCase))
	b.Int("obs_case", int64(f.ObsCase))
	b.Bool("case_match", f.Match)
}
