package loss

import "math"

// Normalized returns the coefficients of the pairwise normalized update
// (the gradient-entanglement paper's first mitigation, "pairwise normalized
// gradient descent", arXiv 2410.13828 §5; this project's reading is in
// paper.md §6.1). The pair contributes the ascent direction
//
//	w·(g_w/‖g_w‖ − g_l/‖g_l‖) = cw·g_w − cl·g_l,    cw = w/‖g_w‖, cl = w/‖g_l‖
//	w = max(0, (d_w + d_l)/2)
//
// in place of the loss's own d_w g_w − d_l g_l, where normChosen = ‖g_w‖ and
// normRejected = ‖g_l‖ are the norms of the two log-prob gradients (over the
// same parameters as the update). To first order, with c = cos(g_w, g_l),
//
//	Δz_w ∝ cw‖g_w‖² − cl⟨g_w,g_l⟩ = w‖g_w‖(1 − c) ≥ 0
//	Δz_l ∝ cw⟨g_w,g_l⟩ − cl‖g_l‖² = −w‖g_l‖(1 − c) ≤ 0
//
// so the chosen never falls and the rejected never rises, for any cosine:
// entanglement can only slow the update by (1 − c), not reverse it.
//
// Why one weight for both sides: with separate weights w_w, w_l the change
// of the chosen is ‖g_w‖(w_w − w_l·c), negative as soon as w_l·c > w_w;
// only w_w = w_l makes both signs independent of the cosine. The average of
// d_w and d_l keeps the loss's overall step size (it is d for every loss with
// d_w = d_l, e.g. DPO's βσ(−βΔ)). It is clamped at 0 because a negative
// weight (IPO past its target, apo_down, nca_pair) would flip the direction
// and make the chosen fall and the rejected rise.
//
// Zero norms: a side whose norm is 0 has g = 0, so it gets coefficient 0;
// the other side's guarantee still holds (its change is w‖g‖ ≥ 0 for the
// chosen, or −w‖g‖ ≤ 0 for the rejected). Normalized panics if a norm is
// negative or NaN (norms come from code, not data).
func Normalized(r Result, normChosen, normRejected float64) (cw, cl float64) {
	if !(normChosen >= 0) || !(normRejected >= 0) {
		panic("loss: gradient norm must be ≥ 0")
	}
	w := math.Max(0, (r.DW+r.DL)/2) // NaN weights stay NaN (math.Max), so a broken loss is not silently skipped
	if normChosen > 0 {
		cw = w / normChosen
	}
	if normRejected > 0 {
		cl = w / normRejected
	}
	return cw, cl
}
