// Package model is a decoder-only language model written in the shape of
// llm.c's train_gpt2.c: every layer is a pair of free kernels over flat
// slices (outputs first, then inputs, then dimensions), all parameters live
// in one flat buffer, and backward passes accumulate (+=) into gradient
// buffers that the caller zeroes explicitly.
//
// # Architecture
//
// Token embedding (+ a learned position embedding for GPT-2); L pre-norm blocks
//
//	x = x + proj(attention(qkv(norm1(x))))   causal, softmax(q·kᵀ/sqrt(hs)), rotary q, k where the family has them
//	x = x + mlp(norm2(x))
//
// then a final norm and an LM head without bias, which is wte when
// Config.Tied. No dropout. The families differ only in what the block
// computes, chosen once from Config.Arch as a Block (config.go), the one
// place to read them:
//
//	           GPT-2 (Arch "")         GPT-NeoX ("neox")                   Llama ("llama")
//	norm       LayerNorm, eps 1e-5     LayerNorm, eps                      RMSNorm, eps
//	positions  learned wpe             RoPE on the first Rotary dims       RoPE on every dim; θ;
//	                                   of each head; θ                     Llama-3 scaling
//	MLP        proj(gelu_tanh(fc x))   proj(gelu_erf(fc x))                down(silu(gate x)·up x)
//	MLP width  4C                      F                                   F
//	residual   sequential              parallel (Sequential: sequential)   sequential
//	attention  multi-head              multi-head                          grouped-query (KV heads)
//	biases     all                     all                                 QKVBias, ProjBias, MLPBias
//	head       tied or untied          untied (tied allowed)               tied or untied
//
// with sequential x += attn(norm1 x); x += mlp(norm2 x) and parallel
// x + attn(norm1 x) + mlp(norm2 x), norm2 reading the block input.
//
// Hugging Face's gpt2, gpt_neox (Pythia), llama (Llama 2/3, SmolLM2),
// mistral and qwen2 directories map onto these (pkg/hfmodel). Kernels are
// generic over Float: the model runs in float32 and the gradient checks run
// in float64 (naive loops, math.Exp). The float32 path runs the matrix
// products (Linear layers and the four products of each attention head, in
// causal 32-row blocks) on internal/gemm's SIMD kernels, and the tanh GELU,
// the attention softmax's and the log-softmax's exponentials on its float32
// elementwise kernels (gemm.GELU, gemm.Exp, within 2 ulps); the erf GELU
// and SwiGLU are float32 formulas around gemm.Exp (geluErf32, swiglu32:
// the same bits on every SIMD implementation), whose elementwise steps
// (all of the erf GELU's, SwiGLU's backward) run on AVX2 kernels
// (erfc_amd64.s) with the bits of their scalar definitions on all 2^32
// float32 inputs (TestGeluErfAllFloat32, TestSwiGLUAllFloat32 with
// ENTANGLE_EXHAUSTIVE=1); RMSNorm, LayerNorm and the
// rotary rotation (each about 1% of a step's profile or less) stay scalar
// loops, and the RoPE tables are computed in float64 and rounded.
// The float32 torch oracle tests check the whole path for every family.
//
// # Tensors
//
// Tensors(cfg) is the one table of parameter groups, in buffer order:
//
//	wte (V,C); wpe (T,C)   (learned positions only)
//	h.{l}.ln1.w (C), h.{l}.ln1.b (C), h.{l}.attn.qkv.w (Q3,C), h.{l}.attn.qkv.b (Q3),
//	h.{l}.attn.proj.w (C,C), h.{l}.attn.proj.b (C), h.{l}.ln2.w (C), h.{l}.ln2.b (C),
//	h.{l}.mlp.fc.w (F,C), h.{l}.mlp.fc.b (F), h.{l}.mlp.proj.w (C,F), h.{l}.mlp.proj.b (C)   for l = 0..L-1
//	lnf.w (C), lnf.b (C)
//	lm_head.w (V,C)   only when !Tied
//
// A tensor the Block does not have is absent (norm biases under RMSNorm,
// the biases a Llama config leaves out); GPT-2 has them all with Q3 = 3C and
// F = 4C. Linear weights are stored (out, in) like PyTorch's nn.Linear, and
// qkv rows are [q (H·hs); k (KV·hs); v (KV·hs)]; SwiGLU's fc rows are
// [gate (F); up (F)], so (2F,C). Gradient and optimizer-moment buffers use the same layout;
// ViewOf(buf, cfg, name) gives a tensor's sub-slice of any of them.
//
// # Sequences and log-probs
//
// A sequence is tokens = prompt then response, with the response starting at
// respStart ≥ 1. Its response log-probability is
//
//	log π(y|x) = Σ_{t=respStart}^{n-1} log softmax(logits[t-1])[tokens[t]]
//
// Workspace.Forward returns the n-respStart terms; Workspace.Backward adds
// ∇θ Σ_j dlogp[j]·lp[j] to a gradient buffer, so dlogp = 1 gives ∇θ log π(y|x),
// a one-hot dlogp a per-token gradient and dlogp = -1/N the SFT cross-entropy
// gradient. The LM head runs only at positions respStart-1..n-2: a workspace
// keeps the R response rows of logits and of their softmax (for Backward),
// and holds the logits' gradient for 32 rows at a time. Its
// buffers grow with the longest sequence it has seen (WorkspaceBytes), so a
// model of context 1024 run on 128-token sequences holds 128-token buffers.
//
//	ws := m.NewWorkspace()
//	lp := ws.Forward(tokens, respStart)
//	ws.Backward(grad, ones) // grad += ∇θ log π(y|x)
//
// Workspace.ForwardReuse runs a sequence that shares a prefix with the
// previous Forward's (a preference pair's two responses) computing only the
// positions after the shared prefix: with causal attention the prefix's
// activations are the same. NewSerialWorkspace gives a workspace whose kernels
// never start goroutines, for callers that run one workspace per goroutine.
// Workspace.BackwardSet overwrites the gradient buffer instead of adding to it
// (no separate clearing pass). Model.PackWeights packs every weight matrix
// once for the GEMM kernels, until Model.UnpackWeights, while the parameters
// do not change (a training step); results are the same bits either way.
//
// Model.AccumulateGrads and Model.LogProbs process many sequences on Lanes
// goroutines.
//
// # LoRA adapters
//
// NewLoRA(m, r, α, sites) puts rank-r adapters on row blocks of weight
// tensors (a LoRASite: rows Row0..Row0+Out of a tensor of row length In, so
// Llama's q_proj is rows 0..H·hs of attn.qkv.w, GPT-2's fused c_attn all of
// it). The adapted function is y = W₀x + s·B(Ax), s = α/r, A (r, In),
// B (Out, r); the model computes it as one projection with the merged weight
// W = W₀ + s·BA (Merge, from a copy of the adapted rows: Unmerge restores
// W₀ exactly, the reference model). With G the gradient of the merged rows
// (any Backward),
//
//	dA = s·Bᵀ·G,   dB = s·G·Aᵀ
//
// (LoRA.Grad), checked against central differences for every block kind
// and, through pkg/hfmodel, against peft's unmerged layer in PyTorch.
// Init is peft's: A ~ U(−1/√In, 1/√In) (kaiming_uniform, a = √5), B = 0.
//
// # Determinism
//
// Results are bit-identical for any GOMAXPROCS. Inside a kernel, work is split
// over a dimension of the output (rows, heads — whole key/value groups in
// the attention backward — or channels), and each output
// element is computed by one goroutine with the same summation order as the
// serial kernel. The batch helpers use a FIXED number of lanes (Lanes), sequence
// i always goes to lane i mod Lanes, each lane sums its sequences in order into
// its own buffer, and the lanes are added to the destination in lane order.
// Init draws from a seeded PCG in tensor-table order.
package model
