// Package loss implements the margin-based preference losses studied in
// "A Common Pitfall of Margin-based Language Model Alignment: Gradient
// Entanglement" (Yuan et al., ICLR 2025, arXiv 2410.13828), each with the two
// scalar weights that decide how one pair's update moves the chosen and the
// rejected log-probabilities.
//
// # Weights
//
// A loss is a function of one pair's summed sequence log-probabilities
// z_w = log π_θ(y_w|x) (chosen) and z_l = log π_θ(y_l|x) (rejected), their
// reference values, and the response lengths. Its gradient is
//
//	−∇_θ ℓ = d_w g_w − d_l g_l,    d_w = −∂ℓ/∂z_w,  d_l = +∂ℓ/∂z_l,  g = ∇_θ z
//
// so one step of size η changes the log-probs, to first order, by
//
//	Δz_w ≈ η(d_w‖g_w‖² − d_l⟨g_w,g_l⟩)    chosen rises   ⇔ ⟨g_w,g_l⟩ < r‖g_w‖²
//	Δz_l ≈ η(d_w⟨g_w,g_l⟩ − d_l‖g_l‖²)    rejected falls ⇔ ⟨g_w,g_l⟩ < ‖g_l‖²/r
//
// with r = d_w/d_l (for d_w, d_l > 0). DPO has r = 1, which is the paper's
// Condition 1. Eval returns ℓ, the margin, d_w and d_l for one pair; the
// caller combines them with the per-pair gradients.
//
// # Usage
//
//	p, _ := loss.Defaults("dpo")
//	p.Beta = 0.2
//	l, err := loss.New("dpo", p) // errors on β ≤ 0 etc.; unknown names list the valid ones
//	r := l.Eval(loss.Pair{Chosen: -12, Rejected: -15, RefChosen: -13, RefRejected: -14,
//		LenChosen: 5, LenRejected: 6})
//	// seed the chosen backward with −r.DW and the rejected one with +r.DL (descent on ℓ)
//	l2 := loss.WithNLL(l, 1) // + 1·(−z_w/|y_w|), the -nll flag
//
// Normalized turns a Result and the two gradient norms into the coefficients
// of the paper's pairwise normalized update, under which, to first order, the
// chosen never falls and the rejected never rises.
//
// # Losses
//
// Notation: r_w = z_w − z_w^ref, r_l = z_l − z_l^ref, Δ = r_w − r_l,
// z̄ = z/|y| (per-token mean), σ logistic, σ'(x) = σ(x)σ(−x),
// NLL = −z_w/|y_w|, c = NLLCoef, ε = LabelSmoothing, 1[·] indicator.
// The "r" column is d_w/d_l; "decoupled" means each side has its own weight.
// Each name's constant (Sigmoid, Hinge, ...) documents the loss in full,
// with its citation. Defaults are TRL's where TRL has the loss.
//
//	name          ℓ (margin in brackets)                        d_w                              d_l                         r             defaults           citation
//	sigmoid, dpo  −(1−ε)logσ(u) − ε logσ(−u) [u = βΔ]           β[(1−ε)σ(−u) − εσ(u)]            same                        1             β .1, ε 0          DPO 2305.18290; TRL
//	hinge         max(0, 1 − u) [u = βΔ]                        β·1[u < 1]                       same                        1             β .1               RSO 2309.06657; TRL
//	ipo           (δ − 1/2β)² [δ = r_w/|y_w| − r_l/|y_l|]       2(1/2β − δ)/|y_w|                2(1/2β − δ)/|y_l|           |y_l|/|y_w|   β(=τ) .1           IPO 2310.12036; TRL
//	robust        [−(1−ε)logσ(u) + ε logσ(−u)]/(1−2ε) [u=βΔ]    β[(1−ε)σ(−u) + εσ(u)]/(1−2ε)     same                        1             β .1, ε 0          2403.00409; TRL
//	exo_pair      KL(σ(±u) ‖ [1−ε, ε]) [u = βΔ]                 βσ'(u)(log((1−ε)/ε) − u)         same                        1             β .1, ε 1e-3       EXO 2402.00856; TRL
//	nca_pair      −logσ(a) − ½logσ(−a) − ½logσ(−b) [βΔ]         β[σ(−a) − ½σ(a)], a = βr_w       ½βσ(b), b = βr_l            decoupled     β .1               NCA 2402.05369; TRL
//	bco_pair      −logσ(a) − logσ(−b) [βΔ]                      βσ(−a)                           βσ(b)                       decoupled     β .1               BCO 2404.04656; TRL
//	sppo_hard     (r_w − 1/2β)² + (r_l + 1/2β)² [βΔ]            2(1/2β − r_w)                    2(r_l + 1/2β)               decoupled     β .1               SPPO 2405.00675; TRL
//	sppo          half of sppo_hard [βΔ]                        1/2β − r_w                       r_l + 1/2β                  decoupled     β .1               authors' repo
//	apo_zero      1 − σ(a) + σ(b) [βΔ]                          βσ'(a)                           βσ'(b)                      decoupled     β .1               APO 2408.06266; TRL
//	apo_down      σ(a) + 1 − σ(u) [u = βΔ]                      β[σ'(u) − σ'(a)]                 βσ'(u)                      any sign      β .1               APO 2408.06266; TRL
//	sigmoid_norm  −logσ(u) [u = β(r_w/|y_w| − r_l/|y_l|)]       βσ(−u)/|y_w|                     βσ(−u)/|y_l|                |y_l|/|y_w|   β .1               TRL
//	discopop      (1−m)(−logσ(u)) + m·e^{−u}, m = σ(u/τ) [βΔ]   −βℓ'(u)                          same                        1             β .1, τ .05        2406.08414; TRL
//	slic          max(0, δ − u) + c·NLL [u = z_w − z_l]         1[u < δ] + c/|y_w|               1[u < δ]                    ≥ 1           δ 1, c 0           SLiC-HF 2305.10425
//	kto_pair      λ_D(1−σ(a)) + λ_U(1−σ(b)) [βΔ]                λ_D βσ'(a), a = β(r_w − z0)      λ_U βσ'(b), b = β(z0 − r_l) decoupled     β .1, λ_D=λ_U=1    KTO 2402.01306; TRL
//	orpo          c·NLL − β logσ(u) [u = lo_w − lo_l]           [βσ(−u)/(1−p_w) + c]/|y_w|       βσ(−u)/((1−p_l)|y_l|)       > |y_l|/|y_w|·(1−p_l)/(1−p_w)  β .1, c 1   ORPO 2403.07691; TRL
//	simpo         smoothed −logσ(u) + c·NLL [u = β(z̄_w − z̄_l) − γ]  β[(1−ε)σ(−u) − εσ(u)]/|y_w| + c/|y_w|  β[…]/|y_l|    |y_l|/|y_w| (c=0)  β .1, γ .5, c 0  SimPO 2405.14734; TRL CPO
//	cpo           smoothed −logσ(u) + c·NLL [u = β(z_w − z_l)]  β[(1−ε)σ(−u) − εσ(u)] + c/|y_w|  β[(1−ε)σ(−u) − εσ(u)]       > 1           β .1, c 1          CPO 2401.08417; TRL CPO
//	rdpo          −logσ(u) [u = βΔ + α(|y_w| − |y_l|)]          βσ(−u)                           same                        1             β .1, α .2         R-DPO 2403.19159; authors
//	dpop          −logσ(u) [u = β(Δ − λ·max(0, −r_w))]          βσ(−u)(1 + λ·1[r_w < 0])         βσ(−u)                      1 or 1+λ      β .1, λ 50         DPOP 2402.13228; authors
//	rrhf          max(0, −u) + c·NLL [u = z̄_w − z̄_l]           (1[u < 0] + c)/|y_w|             1[u < 0]/|y_l|              ≥ |y_l|/|y_w| c 1                RRHF 2304.05302; authors
//
// Here lo = z̄ − log(1 − e^{z̄}) is the per-token log-odds, p = e^{z̄}, and
// z0 = max(0, Pair.KL) is kto_pair's reference point. For discopop,
// ℓ'(u) = m(1−m)/τ·(e^{−u} + logσ(u)) − (1−m)σ(−u) − m·e^{−u}.
// "authors" is the paper's repository, HumainLab/Understand_MarginPO; "TRL"
// is huggingface/trl trl/trainer/dpo_trainer.py (or kto_trainer.py), and
// "TRL CPO"/orpo trl/experimental/{cpo,orpo}. All ids are arXiv ids.
//
// # Decisions
//
//   - sppo is not an alias of sppo_hard: the authors' code averages the two
//     squares, so its loss and weights are half of TRL's.
//   - simpo defaults to NLLCoef 0 as in the paper's runs (cpo_alpha=0), not
//     TRL CPOConfig's cpo_alpha=1.
//   - kto_pair takes its reference point from Pair.KL (a detached batch
//     estimate supplied by the trainer), clamped at 0 as in TRL; no gradient
//     flows through it.
//   - At a hinge's kink (hinge, slic, rrhf, dpop) the weight is the one-sided
//     value of the flat side (PyTorch's relu'(0) = 0 convention).
//   - Batch reduction is the caller's: this package is per pair. TRL's NLL
//     is a token-weighted batch mean; NLL here is per pair.
package loss
