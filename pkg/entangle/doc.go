// Package entangle computes gradient-entanglement statistics: pure float64
// math on the gradients of the chosen and rejected log-probabilities of
// preference pairs, following Yuan et al. 2024, "A Common Pitfall of
// Margin-based Language Model Alignment: Gradient Entanglement"
// (arXiv 2410.13828; cited as "paper §n").
// The package knows no file format; callers pass []float32 vectors.
//
// # Notation
//
// For a pair (x, y_w, y_l), g_w = ∇_θ log π_θ(y_w|x) (chosen, "W") and
// g_l = ∇_θ log π_θ(y_l|x) (rejected, "L"); I = ⟨g_w, g_l⟩. A margin loss has
// weights d_w = −∂ℓ/∂log π_w and d_l = +∂ℓ/∂log π_l (for DPO both equal
// βσ(−βΔ)), so an SGD step is Δθ = η(d_w g_w − d_l g_l).
//
// # Reductions
//
// Dot, SumSq, DotNorms and DotGroups reduce float32 data in float64. A
// product of two float32 values is exact in float64; sums run in four
// unrolled lanes over blocks of 256 elements, and the block sums are added
// with Neumaier compensation, so the error is about 64·ε·Σ|block terms|
// within a block and O(ε) across blocks (relative ~1e-15 on 10^7 values in
// the tests). The order of operations depends only on the input length:
// results are bit-identical across runs and GOMAXPROCS. None allocates.
//
// # Per-pair statistics (Pair, PairStats; paper §3)
//
//	Cos           = I / (‖g_w‖‖g_l‖)
//	NormRatio     = ‖g_l‖ / ‖g_w‖
//	ChosenRatio   = I / ‖g_w‖²
//	RejectedRatio = I / ‖g_l‖²
//	R             = I / min(‖g_w‖², ‖g_l‖²)      (paper §3.2; Case 1 ⇔ R ≤ 1 for non-zero norms)
//	DeltaW        = d_w‖g_w‖² − d_l I            (first-order Δlog π_w per unit η)
//	DeltaL        = d_w I − d_l‖g_l‖²            (first-order Δlog π_l per unit η)
//	DeltaMargin   = DeltaW − DeltaL = ⟨d_w g_w − d_l g_l, g_w − g_l⟩
//
// DeltaW and DeltaL are Eqs. (4)–(5) of the paper (DPO: d_w = d_l = βc(θ))
// and their general form (paper §3.3, related-work §1). Note that the
// authors' analysis script computes R with ‖g_w‖² in place of the minimum
// (paper §8, item 2); that quantity is ChosenRatio here.
//
// # Cases (paper §3.1.1, Table 1)
//
// Cases are decided from the signs of the predicted changes, never from
// ratios, so every sign of d_w, d_l (zero, negative) is handled:
//
//	Case          chosen        rejected      condition
//	1 ideal       ΔW ≥ 0 (↑)    ΔL ≤ 0 (↓)    DPO: I ≤ min(‖g_w‖², ‖g_l‖²)
//	2 both-fall   ΔW < 0 (↓)    ΔL ≤ 0 (↓)    DPO: ‖g_w‖² < I ≤ ‖g_l‖²
//	3 both-rise   ΔW ≥ 0 (↑)    ΔL > 0 (↑)    DPO: ‖g_l‖² < I ≤ ‖g_w‖²
//	4 inverted    ΔW < 0 (↓)    ΔL > 0 (↑)    impossible when d_w, d_l ≥ 0
//	0 undefined   ΔW or ΔL is NaN
//
// Ties (a predicted change of exactly 0) count as the desired direction, as
// in the non-strict inequalities of Condition 1; so I = ‖g_w‖² < ‖g_l‖² is
// case 1, and the paper's overlapping boundaries all go to case 1.
// PairStats.Case uses d_w = d_l = 1 (the paper's table: signs of ‖g_w‖² − I
// and I − ‖g_l‖², exact in floating point); PairStats.LossCase uses the
// given weights, which reproduces the general condition
// "chosen rises ⇔ I ≤ (d_w/d_l)‖g_w‖², rejected falls ⇔ I ≤ (d_l/d_w)‖g_l‖²"
// when d_w, d_l > 0. By Cauchy–Schwarz case 4 needs a negative weight
// (e.g. TRL nca_pair, apo_down) or d_w, d_l < 0 (IPO past its target, where
// the loss shrinks the margin); d_l = 0 (pure SFT) gives case 1 or 3.
//
// Problems are reported in PairStats.Warnings instead of silently: zero norm
// (ErrZeroNorm; ratios dividing by it are NaN), NaN or Inf inputs (ErrNaN,
// ErrInf), negative squared norms (ErrNegativeNorm) and |Cos| > 1 + 1e-9
// (ErrCauchySchwarz).
//
// # First-order check (FirstOrder, Predict; paper §7 claims 1–4)
//
// For the update Δθ actually applied, predW = ⟨g_w,Δθ⟩ and predL = ⟨g_l,Δθ⟩
// predict the observed changes of log π_w and log π_l up to O(‖Δθ‖²).
// Agreement is measured by the symmetric relative error
//
//	RelErr(p, o) = |o − p| / max(|p|, |o|),  RelErr(0, 0) = 0,
//
// which lies in [0, 2], is ≤ 1 iff the signs agree (or one is zero), and
// never divides by zero. The predicted and observed Cases are compared too.
//
// # Step summaries (Describe, Summarize, Accumulator, BatchPair)
//
// Describe gives N, mean, min, max and the quantiles q05, q25, median, q75,
// q95 of the finite values (non-finite ones are counted apart). Quantiles are
// exact, on a sorted copy, with linear interpolation (Hyndman–Fan type 7, the
// R and NumPy default): Q(p) = x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋),
// h = (N−1)p. Summarize applies it to every PairStats field of a step and adds
// the fraction of pairs in each Case and LossCase and warning counts.
// BatchPair gives the statistics of the batch-mean gradients
// ḡ = (1/N)Σg (from an Accumulator), which is what batch-level tools report;
// they include cross-example inner products and differ from per-pair means.
//
// # Token level (CosineMatrix, TokenSummarize; paper §4.2, §7 claim 9)
//
// CosineMatrix gives the n_w × n_l matrix of cosines between per-token
// gradients. TokenSummarize averages it over three disjoint sets of pairs:
// contrastive×contrastive; aligned shared pairs (chosen token i and rejected
// token match[i], both shared; by default match[i] = i − n_w + n_l, the same
// offset from the end of the response, EndAligned); and all other pairs.
// The paper predicts negative cosines for the first set and cosines near 1
// for the second.
//
// # CHES (Razin et al. 2024, arXiv 2410.08847; related-work §4.1)
//
// From the summed last-layer hidden states H⁺ (chosen) and H⁻ (rejected) over
// the positions predicting response tokens, with lengths n⁺, n⁻:
//
//	CHES            = ⟨H⁺, H⁻⟩ − ‖H⁺‖²
//	CHES_normalized = ⟨H⁺/n⁺, H⁻/n⁻⟩ − ‖H⁺/n⁺‖²
//
// Larger means more likely likelihood displacement of the chosen response;
// it is the hidden-feature analogue of I − ‖g_w‖² = −DeltaW (d_w = d_l = 1).
//
// # Sketches (Sketch; related-work §6.3)
//
// Sketch is a dense Rademacher Johnson–Lindenstrauss map S: R^N → R^K with
// S[k][j] = ±1/√K, the 64 signs of row k, columns 64t…64t+63 being the bits
// of SplitMix64((k<<40 | t) ⊕ SplitMix64(seed)). Nothing of size K×N is
// stored, a column's sign depends only on its global index (so sketches of
// parameter groups, projected with their offsets, add up to the sketch of the
// whole vector), and one seed gives one projection for a whole run. For fixed
// a, b:
//
//	E⟨Sa,Sb⟩   = ⟨a,b⟩
//	Var⟨Sa,Sb⟩ = (‖a‖²‖b‖² + ⟨a,b⟩² − 2 Σ_i a_i² b_i²) / K          (SketchVar)
//	SE         ≈ √((‖Sa‖²‖Sb‖² + ⟨Sa,Sb⟩²) / K)   (SketchStdErr, conservative)
//
// so the relative error of a sketched cosine is about √((1 + cos²)/K).
// Project uses, per tile of 64 columns, eight 256-entry tables of all signed
// sums of 8 inputs: one hash and eight look-ups per row and tile
// (about 40 ms for N = 500k, K = 1024 on one core).
//
// CountSketch (Charikar, Chen & Farach-Colton 2002) sends coordinate j to one
// bucket h(j) with a sign s(j), both from SplitMix64(j ⊕ SplitMix64(seed)):
// one hash and one addition per coordinate, so its cost is linear in N and
// independent of K — the sketch for gradients of 10⁸ parameters, where the
// dense Sketch's O(N·K/8) is seconds per vector. Its inner products have the
// same expectation and variance as the dense sketch's (SketchVar), so
// SketchStdErr serves both. Projection is the interface of the two.
package entangle
