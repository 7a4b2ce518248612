package entangle

import "errors"

// CHES returns the centered hidden embedding similarity of Razin et al. 2024
// ("Unintentional Unalignment: Likelihood Displacement in DPO",
// arXiv 2410.08847; related-work §4.1) and its length-normalised form.
//
// hW and hL are the sums, over the positions that predict response tokens
// (from the last prompt token to the second-to-last response token), of the
// last-layer hidden states of the chosen and rejected responses; nW and nL
// are the numbers of summed positions (the response lengths). With
// H⁺ = hW and H⁻ = hL:
//
//	score      = ⟨H⁺, H⁻⟩ − ‖H⁺‖²
//	normalized = ⟨H⁺/nW, H⁻/nL⟩ − ‖H⁺/nW‖² = ⟨H⁺,H⁻⟩/(nW·nL) − ‖H⁺‖²/nW²
//
// Sign convention (as in Razin et al.): larger means more similar, i.e. more
// likely that DPO lowers the chosen likelihood. The score is the
// hidden-feature analogue of ⟨g_w,g_l⟩ − ‖g_w‖² = −ΔW (d_w = d_l = 1), so
// score > 0 corresponds to the chosen-side condition failing.
// Sums are accumulated in float64 (the overflow of float32 sums reported in
// the authors' issue #1 cannot happen for finite float32 inputs).
// It returns an error if nW or nL is not positive, and panics if
// len(hW) != len(hL).
func CHES(hW, hL []float32, nW, nL int) (score, normalized float64, err error) {
	if len(hW) != len(hL) {
		panic("entangle: CHES length mismatch")
	}
	if nW <= 0 || nL <= 0 {
		return 0, 0, errors.New("entangle: CHES needs positive response lengths")
	}
	d, ww, _ := DotNorms(hW, hL)
	fw, fl := float64(nW), float64(nL)
	return d - ww, d/(fw*fl) - ww/(fw*fw), nil
}
