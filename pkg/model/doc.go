// Package model is a GPT-2-style decoder-only language model written in the
// shape of llm.c's train_gpt2.c: every layer is a pair of free kernels over
// flat slices (outputs first, then inputs, then dimensions), all parameters
// live in one flat buffer, and backward passes accumulate (+=) into gradient
// buffers that the caller zeroes explicitly.
//
// # Architecture
//
// Token embedding + learned position embedding; L pre-LayerNorm blocks
//
//	x = x + proj(attention(qkv(ln1(x))))    causal multi-head, softmax(q·kᵀ/sqrt(hs))
//	x = x + proj(gelu(fc(ln2(x))))          GELU with the tanh approximation
//
// then a final LayerNorm and an LM head without bias, which is wte when
// Config.Tied. No dropout. Kernels are generic over Float: the model runs in
// float32 and the gradient checks run in float64 (naive loops, math.Exp). The
// float32 path runs the matrix products (Linear layers and the four products
// of each attention head, in causal 32-row blocks) on internal/gemm's SIMD
// kernels, and GELU, the attention softmax's and the log-softmax's
// exponentials on its float32 elementwise kernels (gemm.GELU, gemm.Exp, within
// 2 ulps); the float32 torch oracle test checks the whole path.
//
// # Tensors
//
// Tensors(cfg) is the one table of parameter groups, in buffer order:
//
//	wte (V,C); wpe (T,C)
//	h.{l}.ln1.w (C), h.{l}.ln1.b (C), h.{l}.attn.qkv.w (3C,C), h.{l}.attn.qkv.b (3C),
//	h.{l}.attn.proj.w (C,C), h.{l}.attn.proj.b (C), h.{l}.ln2.w (C), h.{l}.ln2.b (C),
//	h.{l}.mlp.fc.w (4C,C), h.{l}.mlp.fc.b (4C), h.{l}.mlp.proj.w (C,4C), h.{l}.mlp.proj.b (C)   for l = 0..L-1
//	lnf.w (C), lnf.b (C)
//	lm_head.w (V,C)   only when !Tied
//
// Linear weights are stored (out, in) like PyTorch's nn.Linear, and qkv rows
// are [q; k; v]. Gradient and optimizer-moment buffers use the same layout;
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
// keeps the R response rows of logits, recomputes each row's softmax in
// Backward, and holds the logits' gradient for 32 rows at a time. Its
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
// # Determinism
//
// Results are bit-identical for any GOMAXPROCS. Inside a kernel, work is split
// over a dimension of the output (rows, heads or channels), and each output
// element is computed by one goroutine with the same summation order as the
// serial kernel. The batch helpers use a FIXED number of lanes (Lanes), sequence
// i always goes to lane i mod Lanes, each lane sums its sequences in order into
// its own buffer, and the lanes are added to the destination in lane order.
// Init draws from a seeded PCG in tensor-table order.
package model
