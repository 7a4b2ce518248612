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
// a = βr_w, b = βr_l, NLL = −z_w/|y_w|, c = NLLCoef, ε = LabelSmoothing,
// 1[·] indicator.
// "Decoupled" means each side has its own weight, so r varies freely.
// Each name's constant (Sigmoid, Hinge, ...) documents the loss in full,
// with its citation. Defaults are TRL's where TRL has the loss.
//
//	name          ℓ                                         margin (Result.Margin)
//	sigmoid, dpo  −(1−ε) logσ(u) − ε logσ(−u)               u = βΔ
//	hinge         max(0, 1 − u)                             u = βΔ
//	ipo           (δ − 1/(2β))²                             δ = r_w/|y_w| − r_l/|y_l|
//	robust        [−(1−ε) logσ(u) + ε logσ(−u)]/(1 − 2ε)    u = βΔ
//	exo_pair      Σ_{i=w,l} q_i log(q_i/p_i), q = σ(±u)     u = βΔ    (p = [1−ε, ε])
//	nca_pair      −logσ(a) − ½logσ(−a) − ½logσ(−b)          βΔ
//	bco_pair      −logσ(a) − logσ(−b)                       βΔ
//	sppo_hard     (r_w − 1/(2β))² + (r_l + 1/(2β))²         βΔ
//	sppo          half of sppo_hard                         βΔ
//	apo_zero      1 − σ(a) + σ(b)                           βΔ
//	apo_down      σ(a) + 1 − σ(u)                           u = βΔ
//	sigmoid_norm  −logσ(u)                                  u = β(r_w/|y_w| − r_l/|y_l|)
//	discopop      (1−m)(−logσ(u)) + m e^{−u}, m = σ(u/τ)    u = βΔ
//	slic          max(0, δ − u) + c·NLL                     u = z_w − z_l
//	kto_pair      λ_D(1 − σ(a')) + λ_U(1 − σ(b'))           βΔ        (a' = β(r_w − z0), b' = β(z0 − r_l))
//	orpo          c·NLL − β logσ(u)                         u = lo_w − lo_l
//	simpo         −(1−ε) logσ(u) − ε logσ(−u) + c·NLL       u = β(z̄_w − z̄_l) − γ
//	cpo           −(1−ε) logσ(u) − ε logσ(−u) + c·NLL       u = β(z_w − z_l)
//	rdpo          −logσ(u)                                  u = βΔ + α(|y_w| − |y_l|)
//	dpop          −logσ(u)                                  u = β(Δ − λ max(0, −r_w))
//	rrhf          max(0, −u) + c·NLL                        u = z̄_w − z̄_l
//
// Weights, with s(u) = (1−ε)σ(−u) − εσ(u) (σ(−u) when ε = 0):
//
//	name          d_w                          d_l                      r = d_w/d_l
//	sigmoid, dpo  β s(u)                       β s(u)                   1
//	hinge         β 1[u < 1]                   β 1[u < 1]               1
//	ipo           2(1/(2β) − δ)/|y_w|          2(1/(2β) − δ)/|y_l|      |y_l|/|y_w|
//	robust        β[(1−ε)σ(−u) + εσ(u)]/(1−2ε) same                     1
//	exo_pair      βσ'(u)(log((1−ε)/ε) − u)     same                     1
//	nca_pair      β[σ(−a) − ½σ(a)]             ½βσ(b)                   decoupled
//	bco_pair      βσ(−a)                       βσ(b)                    decoupled
//	sppo_hard     2(1/(2β) − r_w)              2(r_l + 1/(2β))          decoupled
//	sppo          1/(2β) − r_w                 r_l + 1/(2β)             decoupled
//	apo_zero      βσ'(a)                       βσ'(b)                   decoupled
//	apo_down      β[σ'(u) − σ'(a)]             βσ'(u)                   any sign
//	sigmoid_norm  βσ(−u)/|y_w|                 βσ(−u)/|y_l|             |y_l|/|y_w|
//	discopop      −β ℓ'(u)                     same                     1
//	slic          1[u < δ] + c/|y_w|           1[u < δ]                 ≥ 1
//	kto_pair      λ_D βσ'(a')                  λ_U βσ'(b')              decoupled
//	orpo          [βσ(−u)/(1−p_w) + c]/|y_w|   βσ(−u)/((1−p_l)|y_l|)    ≈ |y_l|/|y_w| for small p
//	simpo         (β s(u) + c)/|y_w|           β s(u)/|y_l|             |y_l|/|y_w| when c = 0
//	cpo           β s(u) + c/|y_w|             β s(u)                   > 1 when c > 0
//	rdpo          βσ(−u)                       βσ(−u)                   1
//	dpop          βσ(−u)(1 + λ 1[r_w < 0])     βσ(−u)                   1, or 1 + λ when r_w < 0
//	rrhf          (1[u < 0] + c)/|y_w|         1[u < 0]/|y_l|           |y_l|/|y_w| when c = 0
//
// Defaults and sources:
//
//	name          defaults                       citation (arXiv id); reference code
//	sigmoid, dpo  β 0.1, ε 0                     DPO 2305.18290; TRL
//	hinge         β 0.1                          RSO 2309.06657; TRL
//	ipo           β (IPO's τ) 0.1                IPO 2310.12036; TRL (length-averaged)
//	robust        β 0.1, ε 0                     Robust DPO 2403.00409; TRL
//	exo_pair      β 0.1, ε 1e-3                  EXO 2402.00856; TRL
//	nca_pair      β 0.1                          NCA 2402.05369; TRL
//	bco_pair      β 0.1                          BCO 2404.04656; TRL (no running-mean shift)
//	sppo_hard     β 0.1                          SPPO 2405.00675; TRL
//	sppo          β 0.1                          SPPO 2405.00675; authors ("sppo")
//	apo_zero      β 0.1                          APO 2408.06266; TRL
//	apo_down      β 0.1                          APO 2408.06266; TRL
//	sigmoid_norm  β 0.1                          TRL (length-normalised DPO)
//	discopop      β 0.1, τ 0.05                  DiscoPOP 2406.08414; TRL
//	slic          δ 1, c 0                       SLiC-HF 2305.10425
//	kto_pair      β 0.1, λ_D 1, λ_U 1            KTO 2402.01306; TRL kto_trainer.py
//	orpo          β 0.1, c 1                     ORPO 2403.07691; TRL experimental/orpo
//	simpo         β 0.1, γ 0.5, ε 0, c 0         SimPO 2405.14734; TRL experimental/cpo
//	cpo           β 0.1, ε 0, c 1                CPO 2401.08417; TRL experimental/cpo
//	rdpo          β 0.1, α 0.2                   R-DPO 2403.19159; authors ("rdpo")
//	dpop          β 0.1, λ 50                    DPOP 2402.13228; authors ("pdpo")
//	rrhf          c 1                            RRHF 2304.05302; authors ("rrhf")
//
// Here lo = z̄ − log(1 − e^{z̄}) is the per-token log-odds, p = e^{z̄}, and
// z0 = max(0, Pair.KL) is kto_pair's reference point. For discopop,
// ℓ'(u) = m(1−m)/τ·(e^{−u} + logσ(u)) − (1−m)σ(−u) − m·e^{−u}.
// "authors" is the paper's repository, HumainLab/Understand_MarginPO
// (dpo.py, cpo.py); "TRL" is huggingface/trl trl/trainer/dpo_trainer.py
// unless another file is named.
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
