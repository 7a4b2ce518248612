// Package pref is one preference-optimization step, exactly instrumented:
// the trainer (pkg/train, -mode pref) calls Stepper.Step once per step,
// which runs the step's parts in their one order (ProbeBefore and
// SetAttribution, Grad, Dump, the caller's optimizer update, ProbeAfter)
// and returns values: per-pair statistics (PairStats), the batch
// statistics, the attribution dots and the gradient vectors. pkg/pref knows
// no file format; pkg/train turns these values into the rows of the run's
// streams. The exported API calls the chosen response W and the rejected
// one L throughout (y_w, y_l, g_w, g_l).
//
// The package's files follow the step's seams: config.go (Config, the
// Sparse modes, the value types), stepper.go (the Stepper, its lanes, Grad
// and the batch statistics), seq.go (one sequence's forward and backward,
// the token weights of each Sparse mode), gate.go (the learned gate),
// pass.go (the fused per-pair pass), probe.go (probes and dumps),
// attrib.go (attribution), step.go (Step).
//
// # The step
//
// For a batch of B pairs (x, y_w, y_l) with reference log-probs, the
// sequence log-prob is the (masked) sum over response tokens
//
//	z = Σ_t q_t·log π_θ(y_t | x, y_<t),   q_t = 1 (default), the oracle mask, or the learned gate m_t
//
// For every pair Grad computes g_w = ∇θ z_w and g_l = ∇θ z_l separately (one
// forward and one backward each, model.Workspace.Backward with dlogp = q),
// their exact inner product and squared norms overall and per parameter
// group (model.Tensors) in float64, the loss and its weights d_w = −∂ℓ/∂z_w,
// d_l = ∂ℓ/∂z_l (pkg/loss), and writes the gradient of the batch-mean loss
//
//	dst = (1/B) Σ_i (−cw_i·g_w,i + cl_i·g_l,i)
//
// with (cw, cl) = (d_w, d_l) unless Normalize. Pairs run concurrently on up
// to min(GOMAXPROCS, B, 4) lanes (each with its own serial-kernel workspace
// and g_w, g_l buffers; fewer when those buffers would exceed 3 GiB: three
// lanes at GPT-2 small's 124M parameters, two at pythia-160m's 162M), but each pair is added to dst and to the batch sums
// in batch order, in one pass over its gradients that also computes its dots
// and norms (the first pair's pass also clears dst and the sums block by
// block, the last one's takes the batch sums' dots: no other pass over them),
// so results are bit-identical for any GOMAXPROCS and any number
// of lanes. On two lanes (runCouples) pairs 2k and 2k+1 share one pass: each
// block gets pair 2k and then pair 2k+1 while it is in cache, both lanes
// take half of the blocks, and the blocks' dot sums are added in index order
// afterwards (the same bits as two passes). The rejected side's forward reuses the chosen side's activations
// over their shared prefix (model.Workspace.ForwardReuse; exact). Grad packs
// the weights once for the step (model.Model.PackWeights), and the per-pair
// pass runs on gemm.PairBlock's SIMD kernel (dots in 16 float64 lanes). With
// GOMAXPROCS 1, Grad allocates nothing after the first step of a batch size.
// The batch statistics follow docs/FORMATS.md (steps.arrows): rewards β(z −
// z_ref) with Config.Beta (1 when 0), batch_dot etc. of ḡ = (1/B)Σ g.
//
// A NaN or Inf in a pair's log-probs, loss, weights or gradient norms is an
// error naming the pair id.
//
// # Cost of the exact statistics, and the route not taken
//
// Every pair's g_w and g_l are materialized (each sequence's backward writes
// its full gradient with model.Workspace.BackwardSet, the weight gradients
// by per-sequence GEMMs with K = n, the sequence's tokens), then read once
// by the pair's pass: 32 bytes per float32 parameter per pair (read g_w,
// g_l, dst, Σg_w, Σg_l; write the last three), 20 when two lanes add two
// pairs per pass (dst and the sums read and written once for both).
//
// An untied input embedding (wte of a model with an LM head of its own:
// pythia-160m's embed_in, 38.6 M of its 162 M parameters) is the exception:
// a sequence's gradient with respect to it is zero outside the rows of its
// tokens, so the passes skip the blocks of it a pair does not touch
// (zeroBlocks; the range of dst is cleared once per Grad, and of Σg_w, Σg_l
// only the blocks the previous batch touched), and a lane's backward clears
// only the rows its buffer's previous sequence touched
// (model.Workspace.BackwardSetRows) instead of all V. Skipping a block of
// exact zeros leaves every element and every compensated block sum as the
// dense pass leaves it, so the bits do not change (TestSparseEmbedding).
// AdamW still updates every row (weight decay, moments). A tied embedding
// (GPT-2, SmolLM2) is the head's gradient, dense.
//
// The other exact route is the "ghost" one of per-example gradient norms in
// differentially private training (Goodfellow 2015; Li et al. 2022, ghost
// clipping; Bu et al.), extended to the inner product: a linear layer's
// sequence gradient is G = XᵀD (X its n×in inputs, D its n×out output
// gradients), and
//
//	⟨G_w, G_l⟩ = Σ_{t,s} (X_w X_lᵀ)[t,s]·(D_w D_lᵀ)[t,s]
//
// costs n_w·n_l·(in+out) multiply-adds instead of in·out per sequence
// (cheaper per pair when n < in·out/(in+out): 96, 64, 102 and 102 for
// GPT-2's qkv, attn.proj, mlp.fc and mlp.proj at C 128; 576, 384, 614, 614
// at C 768). The per-pair statistics would then need no gradient vector,
// and dst one GEMM over the batch (K = Σn) as a plain DPO step does. But
// the batch statistics (BatchDot, BatchWW, BatchLL, steps.arrows) need Σg_w
// and Σg_l: two more half-batch weight-gradient GEMMs (the ghost form of
// ⟨Σg_w, Σg_l⟩ costs (Σn_w)(Σn_l)(in+out), more than the GEMMs at these
// shapes). With U the multiply-adds of one weight-gradient GEMM over the
// batch (2B sequences; U also equals the forward's GEMMs), the two routes
// cost, per step:
//
//	materialized:  U  (per-sequence GEMMs, K = n)  + 32·N bytes per pair of passes
//	ghost:         2U (batched GEMMs, K = Σn)      + Gram blocks X·Xᵀ, D·Dᵀ (w·l, w·w, l·l per pair)
//
//	workload (scripts/bench)           U (GMAC)   Gram (GMAC, % of U)   pass traffic
//	S    B 16, n 64,  R 48, untied          0.86     0.57 (66%)            0.24 GB
//	M    B 16, n 128, R 112, untied        13.35     8.90 (67%)            1.77 GB
//	124M B 8,  n 64,  R 32, tied          106.7     10.5  (10%)           31.7 GB
//	124M B 8,  n 128, R 96, tied          233.2     46.2  (20%)           31.7 GB
//
// At S and M the Gram blocks alone cost two thirds of the GEMM they would
// replace. At 124M with responses of 32 tokens (a CPU profile of the step on
// the reference machine, per step): the per-sequence weight-gradient GEMMs
// take 3.8 CPU-seconds and the passes 2.0; the ghost route's batched GEMMs
// 2U would take ≈ 5.3 at the rate of the packed forward GEMMs (which do U
// each for the forward and the input gradients) and its Gram blocks ≈ 0.3
// more: a wash. With responses of 96 tokens U and the Gram blocks double
// while the passes stay: a loss. So every route here is the materialized
// one, and the passes are kept to one per pair.
//
// # LoRA adapters
//
// SetLoRA(a) (lora.go) makes Grad also measure every pair with respect to
// the adapters a (model.LoRA) of a model running with merged weights: the
// dots and norms of the adapter gradients P(g_w), P(g_l) per adapter
// tensor, appended to the pair's group vectors after the model's groups.
// The totals and dst stay those of all parameters. SetLoRAOnly(a) instead
// moves the Stepper into the adapters' parameter space: every backward is
// model.LoRA.BackwardSet (no base weight gradient is formed), and the
// groups, totals, dst, probes and dumps are all the adapters'.
//
// # kto_pair's reference point
//
// Loss "kto_pair" needs loss.Pair.KL (Config.KL): Grad uses the detached batch mean of
// ((z_w − ref_w) + (z_l − ref_l))/2 over the batch, clamped at 0 (a forward
// pass over the batch before the gradients; no derivative flows through it).
// ProbeBefore uses the probe batch's own.
//
// # Mitigations (paper.md §6; exact formulations)
//
// Normalize (pairwise normalized update, §6.1): the pair contributes
// w·(g_w/‖g_w‖ − g_l/‖g_l‖) to the ascent direction, (cw, cl) =
// loss.Normalized(result, ‖g_w‖, ‖g_l‖), w = max(0, (d_w + d_l)/2). dst is
// then minus the mean of these directions (a descent direction, not the
// gradient of a loss). To first order, for SGD on one pair, Δz_w ≥ 0 and
// Δz_l ≤ 0 whatever the cosine.
//
// SparseOracle (§6.2 with a known mask): q_t = 1 for tokens the dataset
// flags as contrastive (prefdata.Example.ChosenContrastive /
// RejectedContrastive), 0 for shared tokens: dlogp = mask.
//
// SparseLearned (§6.2): a per-token gate m_t = σ(u·h_t + b) on the
// DETACHED final-LayerNorm hidden state h_t at the token's predicting
// position, with its own parameters u ∈ R^C, b (initialized to 0, so every
// m_t starts at 0.5), q_t = m_t, and the pair's loss
//
//	ℓ = ℓ_loss(z_w, z_l) + λ·(1/n) Σ_{t ∈ y_w ∪ y_l} m_t,   n = |y_w| + |y_l|   (L1, m ≥ 0)
//
// The gate's exact gradient: ∂ℓ/∂m_t = −d_w·lp_t + λ/n for chosen tokens and
// +d_l·lp_t + λ/n for rejected ones, times ∂m_t/∂(u, b) = m_t(1 − m_t)(h_t, 1),
// averaged over the batch (GateGrad). Grad then takes one plain SGD step
// u −= GateLR·∂u, b −= GateLR·∂b (no step when GateLR = 0). θ's gradient is
// unchanged in form: the penalty does not depend on θ (h is detached).
//
// # Probes and dumps
//
// ProbeBefore evaluates probe pairs before the update (the trainer writes
// them as pairs.arrows rows of kind "probe") and keeps their g_w, g_l; after
// the optimizer step ProbeAfter(Δθ) adds the observed log-probs after the
// update and the first-order predictions ⟨g_w, Δθ⟩, ⟨g_l, Δθ⟩. Dump returns
// gradient vectors (sequence gradients, per-token gradients of the first N
// pairs) full or sketched with an entangle.Projection (Sketch or CountSketch),
// UpdateVec the update's.
// Step calls them in this order at the dump steps its caller asks for; when
// nothing else needs the probes' gradients (no attribution, LoRA or learned
// gate) it takes the probes after the update instead, with the model put
// back at θ_before, and dots each probe's g_w, g_l with Δθ at once
// (probesAround): the same bits without 2·NumParams values kept per probe.
//
// # Attribution
//
// SetAttribution(gw, gl) (normally ProbeGrads after a ProbeBefore at the
// same parameters) makes Grad also compute, for every probe p and training
// pair i, ⟨g_w^p, g_w,i⟩, ⟨g_w^p, g_l,i⟩, ⟨g_l^p, g_w,i⟩, ⟨g_l^p, g_l,i⟩ in
// the pair's pass (float64, fixed-order blocked sums: independent of the
// lanes). Attribution returns them (the trainer writes attrib.arrows); since
// dst = (1/B)Σ_i(−cw_i g_w,i + cl_i g_l,i), pair i's share of ⟨g_w^p, −dst⟩
// is (cw_i·ww − cl_i·wl)/B, and these shares add up to it exactly (up to
// rounding). Under SGD that is the first-order change of log π_w(p) per unit
// step size; under AdamW it attributes the raw gradient direction, not the
// preconditioned update. Step with Dump.Split attributes the update itself:
// the optimizer's Split writes it as Δθ = −P⊙dst + h (P diagonal: Adam's
// (1−β1)·lr/((1−β1^t)(√v̂+ε)) with this step's v̂; h the momentum carried
// over and weight decay), the dots are taken with P⊙g^p in a second pass
// over the batch, and ⟨g^p, h⟩ is returned as the history term, so that the
// pairs' shares and the history add up to ⟨g^p, Δθ⟩.
package pref
