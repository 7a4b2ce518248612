package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"entangle/internal/gemm"
)

// Model is a decoder-only transformer with all parameters in one flat
// buffer laid out by Tensors(Cfg); its blocks compute Cfg.Block().
type Model[F Float] struct {
	Cfg    Config
	Params []F // (NumParams(Cfg)), see Tensors for the layout

	blk     Block     // Cfg.Block(), fixed at New
	invFreq []float64 // rotary frequencies (ropeInvFreq), nil for learned positions

	lanes *lanePool[F] // lazily started by the batch helpers

	packs    map[*float32]*weightPack // PackWeights' packs, by the weight's first element
	packOn   bool                     // between PackWeights and UnpackWeights
	packList []packItem               // the packed matrices, in PackWeights' order
	packBase *F                       // &Params[0] when packList was built
}

// New returns a model for cfg with all parameters zero; call Init to initialize.
// It panics if cfg is invalid.
func New[F Float](cfg Config) *Model[F] {
	if err := cfg.Validate(); err != nil {
		panic("model: invalid config")
	}
	return NewWith(cfg, make([]F, NumParams(cfg)))
}

// NewWith returns the model of cfg over params, which it adopts (no copy):
// for weights just read, so that loading a model holds one copy of them. It
// panics on an invalid config or unless len(params) = NumParams(cfg).
func NewWith[F Float](cfg Config, params []F) *Model[F] {
	if err := cfg.Validate(); err != nil {
		panic("model: invalid config")
	}
	if len(params) != NumParams(cfg) {
		panic("model: NewWith: params of the wrong length")
	}
	m := &Model[F]{Cfg: cfg, Params: params, blk: cfg.Block()}
	if m.blk.Pos == Rotary {
		m.invFreq = ropeInvFreq(cfg)
	}
	return m
}

// View returns the sub-slice of m.Params holding the tensor called name.
func (m *Model[F]) View(name string) []F { return ViewOf(m.Params, m.Cfg, name) }

// Init sets the parameters to GPT-2's initialization (for every block kind),
// deterministically from seed:
//
//	weights and embeddings           ~ N(0, 0.02)
//	attn.proj.w and mlp.proj.w       ~ N(0, 0.02/sqrt(2L))   (residual projections)
//	biases                           = 0
//	LayerNorm/RMSNorm weights        = 1
//
// Values are drawn in tensor-table order from rand.New(rand.NewPCG(seed, 0)).
func (m *Model[F]) Init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, t := range Tensors(m.Cfg) {
		p := m.Params[t.Offset : t.Offset+t.Size]
		base := t.Name[strings.LastIndexByte(t.Name, '.')+1:]
		switch {
		case strings.HasSuffix(t.Name, "ln1.w") || strings.HasSuffix(t.Name, "ln2.w") || t.Name == "lnf.w":
			for i := range p {
				p[i] = 1
			}
		case base == "b":
			clear(p)
		default:
			std := 0.02
			if strings.HasSuffix(t.Name, "attn.proj.w") || strings.HasSuffix(t.Name, "mlp.proj.w") {
				std = 0.02 / math.Sqrt(2*float64(m.Cfg.L))
			}
			for i := range p {
				p[i] = F(std * rng.NormFloat64())
			}
		}
	}
}

// layerParams are the views of one block's tensors (into Params or a gradient buffer).
type layerParams[F Float] struct {
	ln1w, ln1b []F // (C); ln1b nil for RMSNorm
	qkvw       []F // (Q3,C)
	qkvb       []F // (Q3) or nil
	attprojw   []F // (C,C)
	attprojb   []F // (C) or nil
	ln2w, ln2b []F // (C); ln2b nil for RMSNorm
	fcw        []F // (F,C), (2F,C) for SwiGLU
	fcb        []F // (F) or (2F) or nil
	fcprojw    []F // (C,F)
	fcprojb    []F // (C) or nil
}

// paramViews are the views of all tensors of one buffer.
type paramViews[F Float] struct {
	wte    []F // (V,C)
	wpe    []F // (T,C), nil for rotary positions
	layers []layerParams[F]
	lnfw   []F // (C)
	lnfb   []F // (C), nil for RMSNorm
	head   []F // (V,C): lm_head.w, or wte when tied
}

func viewsOf[F Float](buf []F, cfg Config) paramViews[F] {
	ts := Tensors(cfg)
	if len(buf) != NumParams(cfg) {
		panic("model: buffer length does not match the config")
	}
	v := paramViews[F]{layers: make([]layerParams[F], cfg.L)}
	for _, t := range ts {
		x := buf[t.Offset : t.Offset+t.Size : t.Offset+t.Size]
		name := t.Name
		if rest, ok := strings.CutPrefix(name, "h."); ok {
			i := strings.IndexByte(rest, '.')
			l, _ := strconv.Atoi(rest[:i])
			lp := &v.layers[l]
			switch rest[i+1:] {
			case "ln1.w":
				lp.ln1w = x
			case "ln1.b":
				lp.ln1b = x
			case "attn.qkv.w":
				lp.qkvw = x
			case "attn.qkv.b":
				lp.qkvb = x
			case "attn.proj.w":
				lp.attprojw = x
			case "attn.proj.b":
				lp.attprojb = x
			case "ln2.w":
				lp.ln2w = x
			case "ln2.b":
				lp.ln2b = x
			case "mlp.fc.w":
				lp.fcw = x
			case "mlp.fc.b":
				lp.fcb = x
			case "mlp.proj.w":
				lp.fcprojw = x
			case "mlp.proj.b":
				lp.fcprojb = x
			}
			continue
		}
		switch name {
		case "wte":
			v.wte = x
		case "wpe":
			v.wpe = x
		case "lnf.w":
			v.lnfw = x
		case "lnf.b":
			v.lnfb = x
		case "lm_head.w":
			v.head = x
		}
	}
	if cfg.Tied {
		v.head = v.wte
	}
	return v
}

// layerActs are one block's cached activations, each sized for the
// workspace's capacity N ≤ Cfg.T tokens (T in the shapes below).
type layerActs[F Float] struct {
	ln1        []F // (T,C)
	ln1m, ln1r []F // (T) mean (LayerNorm only), rstd
	qkv        []F // (T,Q3), q and k rotated for rotary positions
	att        []F // (H,T,T) with stride n for a sequence of n tokens
	atty       []F // (T,C)
	attproj    []F // (T,C)
	res2       []F // (T,C) = input + attproj
	ln2        []F // (T,C) norm of res2 (of the input when parallel)
	ln2m, ln2r []F // (T)
	fch        []F // (T,F), (T,2F) for SwiGLU
	fchg       []F // (T,F) activation of fch
	fcproj     []F // (T,C)
	res3       []F // (T,C) = res2 + fcproj, the block output
}

// Workspace holds the activations and activation gradients of one sequence of
// up to Cfg.T tokens. Its buffers are sized for the longest sequence (and the
// longest response) it has seen so far, rounded up to a multiple of
// wsGrain, and grow when a longer one comes: a model of context 1024 that
// only sees 128-token sequences holds 128-token buffers. It reads the
// model's Params at each call, so it stays valid when an optimizer updates
// them. A Workspace is not safe for concurrent use.
type Workspace[F Float] struct {
	m     *Model[F]
	procs int // goroutines per kernel; results do not depend on it

	n, respStart int     // the last Forward's length and response start; n = 0 before any Forward
	tokens       []int32 // (T) copy of the last Forward's tokens
	capN, capR   int     // the buffers hold sequences of ≤ capN tokens with ≤ capR response tokens

	enc        []F // (T,C) token (+ position) embeddings
	cos, sin   []F // (T,D/2) rotary tables, nil for learned positions
	layers     []layerActs[F]
	lnf        []F // (T,C) final LayerNorm output
	lnfm, lnfr []F // (T)
	logits     []F // (R,V): the LM head runs at response positions only
	probs      []F // (R,V) softmax of each logits row, kept for the backward
	lp         []F // (T)

	// gradient scratch, shared by all layers
	dlogits []F // (min(R, headChunk),V): the head's backward runs in chunks of rows
	dlnf    []F // (T,C)
	dres    []F // (T,C) gradient of the residual stream at the current depth
	dfchg   []F // (T,F)
	dfch    []F // (T,F) or (T,2F)
	dln     []F // (T,C) gradient of ln1 or ln2 output
	dpar    []F // (T,C) parallel residual: the ln2 branch's gradient of the block input; nil otherwise
	datty   []F // (T,C)
	dqkv    []F // (T,Q3)
	datt    []F // (H,T,T) attention backward scratch

	viewCache [1 + gradViews]struct { // 0: Params, then the last gradient buffers
		base *F
		n    int
		v    paramViews[F]
	}
	nextView int // the gradient slot (1..gradViews) to replace next

	// tap, when set (LoRA.BackwardSet), is called by every projection's
	// backward with its weight, output gradient (T,OC) and input rows
	// (T,C); a Backward with an empty dparams forms no parameter gradient
	// (every base tensor frozen), only the tap's.
	tap    func(w, dout, inp []F, T, C, OC int)
	frozen paramViews[F] // nil views of every tensor: the gradient views of a frozen backward
}

// wsGrain is the step in which a Workspace's capacity grows (tokens).
const wsGrain = 32

// headChunk is the number of response rows whose logit gradients the LM
// head's backward holds at once (a variable only so that a test can check
// that the chunking does not change a bit).
var headChunk = 32

// NewWorkspace returns a workspace for one sequence (its buffers are
// allocated by the first Forward). Its kernels use up to GOMAXPROCS
// goroutines, splitting outputs so that results are bit-identical for any
// GOMAXPROCS.
func (m *Model[F]) NewWorkspace() *Workspace[F] {
	return m.newWorkspace(runtime.GOMAXPROCS(0))
}

// NewSerialWorkspace is NewWorkspace with kernels that run on the calling
// goroutine only (no goroutines, and no allocations per call once the
// buffers have grown to the longest sequence): for callers that run one
// workspace per goroutine (lanes).
func (m *Model[F]) NewSerialWorkspace() *Workspace[F] { return m.newWorkspace(1) }

func (m *Model[F]) newWorkspace(procs int) *Workspace[F] {
	return &Workspace[F]{m: m, procs: max(1, procs), layers: make([]layerActs[F], m.Cfg.L)}
}

// wsCap rounds n up to a multiple of wsGrain, at most T.
func wsCap(n, T int) int { return min(T, (n+wsGrain-1)/wsGrain*wsGrain) }

// reserve grows the buffers to hold a sequence of n tokens with R response
// tokens. Growing drops the cached activations (the caller runs a full
// forward: ForwardReuse reuses only a sequence of the previous length).
func (ws *Workspace[F]) reserve(n, R int) {
	cfg, blk := ws.m.Cfg, ws.m.blk
	C, V, H := cfg.C, cfg.V, cfg.H
	Q3, FC, FF := cfg.qkvWidth(), cfg.fcWidth(), cfg.MLPWidth()
	mk := func(n int) []F { return make([]F, n) }
	if n > ws.capN {
		T := wsCap(n, cfg.T)
		ws.capN, ws.n = T, 0
		ws.tokens = make([]int32, T)
		ws.enc = mk(T * C)
		for l := range ws.layers {
			ws.layers[l] = layerActs[F]{
				ln1: mk(T * C), ln1m: mk(T), ln1r: mk(T), qkv: mk(T * Q3), att: mk(H * T * T),
				atty: mk(T * C), attproj: mk(T * C), res2: mk(T * C), ln2: mk(T * C), ln2m: mk(T), ln2r: mk(T),
				fch: mk(T * FC), fchg: mk(T * FF), fcproj: mk(T * C), res3: mk(T * C),
			}
		}
		ws.lnf, ws.lnfm, ws.lnfr, ws.lp = mk(T*C), mk(T), mk(T), mk(T)
		ws.dlnf, ws.dres = mk(T*C), mk(T*C)
		ws.dfchg, ws.dfch, ws.dln, ws.datty, ws.dqkv, ws.datt = mk(T*FF), mk(T*FC), mk(T*C), mk(T*C), mk(T*Q3), mk(H*T*T)
		if blk.Parallel {
			ws.dpar = mk(T * C)
		}
		if d2 := len(ws.m.invFreq); d2 > 0 {
			ws.cos, ws.sin = mk(T*d2), mk(T*d2)
			ropeTables(ws.cos, ws.sin, ws.m.invFreq, T)
		}
	}
	if R > ws.capR {
		Rc := wsCap(R, cfg.T)
		ws.capR, ws.n = Rc, 0
		ws.logits, ws.probs, ws.dlogits = mk(Rc*V), mk(Rc*V), mk(min(Rc, headChunk)*V)
	}
}

// WorkspaceBytes returns the bytes a Workspace holds for cfg after
// sequences of up to n ≤ Cfg.T tokens, element size elem (4 for float32):
// with N = n rounded up to a multiple of 32 (at most T), Q3 the qkv width,
// F the MLP width and G = 2 for SwiGLU (else 1), per block
// (7C + Q3 + G·F + F)·N + 4·N + H·N² floats of activations, then
// (6C + Q3 + G·F + F)·N + 3·N + H·N² of final activations and gradient
// scratch (plus N·C for a parallel residual and N·D for rotary tables), N·V
// logits and N·V probabilities (R ≤ N response rows), min(N, 32)·V logit
// gradients, and N int32 tokens. For GPT-2 (Q3 = 3C, F = 4C) the
// per-block term is 18·N·C and the other 17·N·C. It is a float64 so that an
// absurd config gives a huge number, not an overflow.
func WorkspaceBytes(cfg Config, n, elem int) float64 {
	N := float64(min(cfg.T, (max(n, 1)+wsGrain-1)/wsGrain*wsGrain))
	C, V, H, L := float64(cfg.C), float64(cfg.V), float64(cfg.H), float64(cfg.L)
	Q3, FC, FF := float64(cfg.qkvWidth()), float64(cfg.fcWidth()), float64(cfg.MLPWidth())
	extra := float64(cfg.RotaryDims()) * N
	if cfg.Block().Parallel {
		extra += N * C
	}
	floats := L*((7*C+Q3+FC+FF)*N+4*N+H*N*N) + (6*C+Q3+FC+FF)*N + 3*N + H*N*N + extra + (2*N+min(N, float64(headChunk)))*V
	return floats*float64(elem) + 4*N
}

// Forward runs the model on one sequence, tokens = prompt then response, whose
// response starts at index respStart, and returns the log-probability of each
// response token:
//
//	lp[j] = log softmax(logits[respStart-1+j])[tokens[respStart+j]],  j = 0..n-respStart-1
//
// so that log π(y|x) = Σ_j lp[j]. The LM head is computed only at positions
// respStart-1..n-2. The returned slice is a view into the workspace, valid until
// the next Forward. It panics if n > Cfg.T, a token is outside [0,V), or
// respStart is not in [1, n).
func (ws *Workspace[F]) Forward(tokens []int32, respStart int) []F {
	checkSeq(ws.m.Cfg, tokens, respStart)
	ws.reserve(len(tokens), len(tokens)-respStart)
	return ws.forwardFrom(tokens, respStart, 0)
}

// ForwardReuse is Forward for a sequence that shares a prefix with the
// previous Forward's (a preference pair's chosen and rejected responses after
// their common prompt): with causal attention, every activation at positions
// before the first differing token p is the same as the previous sequence's,
// so only positions p..n-1 are computed (embeddings, every block, the final
// LayerNorm, the LM head at positions ≥ p and the log-probs whose target is at
// ≥ p). Keys and values of positions < p are read from the cache. The result
// equals Forward's (the kernels compute each row independently of the others).
//
// The caller guarantees that Params have not changed since the previous
// Forward (Backward in between is fine: it does not touch the activations).
// When the lengths or response starts differ, or no Forward ran, it is Forward.
// It returns how many leading positions were reused along with the log-probs.
func (ws *Workspace[F]) ForwardReuse(tokens []int32, respStart int) (lp []F, reused int) {
	checkSeq(ws.m.Cfg, tokens, respStart)
	n := len(tokens)
	ws.reserve(n, n-respStart)
	p := 0
	if ws.n == n && ws.respStart == respStart {
		for p < n && ws.tokens[p] == tokens[p] {
			p++
		}
	}
	return ws.forwardFrom(tokens, respStart, p), p
}

// forwardFrom is Forward computing only positions ≥ p; positions < p must hold
// the activations of a previous forward of the same prefix, length and
// response start (p = 0: a full forward).
func (ws *Workspace[F]) forwardFrom(tokens []int32, respStart, p int) []F {
	cfg, blk := ws.m.Cfg, ws.m.blk
	n := len(tokens)
	C, V := cfg.C, cfg.V
	Q3, FC, FF := cfg.qkvWidth(), cfg.fcWidth(), cfg.MLPWidth()
	R := n - respStart
	w0 := ws.views(0, ws.m.Params)
	ws.n, ws.respStart = n, respStart
	copy(ws.tokens, tokens)
	m := n - p // rows to compute

	if blk.Pos == Learned {
		encoderForward(ws.enc[p*C:], tokens[p:], w0.wte, w0.wpe[p*C:], m, C)
	} else {
		embedForward(ws.enc[p*C:], tokens[p:], w0.wte, m, C)
	}
	x := ws.enc // (n,C) block input
	for l := range ws.layers {
		a, w := &ws.layers[l], &w0.layers[l]
		// res2 = x + attn(ln1(x))
		ws.normF(a.ln1[p*C:], a.ln1m[p:], a.ln1r[p:], x[p*C:], w.ln1w, w.ln1b, m)
		ws.matmulF(a.qkv[p*Q3:], a.ln1[p*C:], w.qkvw, w.qkvb, m, C, Q3)
		ws.ropeF(a.qkv, p, n)
		ws.attentionF(a.atty, a.att, a.qkv, n, p)
		ws.matmulF(a.attproj[p*C:], a.atty[p*C:], w.attprojw, w.attprojb, m, C, C)
		residualForward(a.res2[p*C:], x[p*C:], a.attproj[p*C:], m*C)
		// res3 = res2 + mlp(ln2(res2)), or with a parallel residual res2 + mlp(ln2(x))
		ln2in := a.res2
		if blk.Parallel {
			ln2in = x
		}
		ws.normF(a.ln2[p*C:], a.ln2m[p:], a.ln2r[p:], ln2in[p*C:], w.ln2w, w.ln2b, m)
		ws.matmulF(a.fch[p*FC:], a.ln2[p*C:], w.fcw, w.fcb, m, C, FC)
		ws.actF(a.fchg[p*FF:], a.fch[p*FC:], m)
		ws.matmulF(a.fcproj[p*C:], a.fchg[p*FF:], w.fcprojw, w.fcprojb, m, FF, C)
		residualForward(a.res3[p*C:], a.res2[p*C:], a.fcproj[p*C:], m*C)
		x = a.res3
	}
	ws.normF(ws.lnf[p*C:], ws.lnfm[p:], ws.lnfr[p:], x[p*C:], w0.lnfw, w0.lnfb, m)
	// logits (R,V) = lnf[respStart-1 : n-1] · headᵀ, no bias; head row j is
	// position respStart-1+j and its target is tokens[respStart+j]. Rows at
	// positions < p keep their logits and probabilities; their log-probs are
	// recomputed from the row whose target is at position p.
	jl := min(R, max(0, p-respStart+1)) // first row whose logits change
	jt := min(R, max(0, p-respStart))   // first row whose target may change
	ws.matmulF(ws.logits[jl*V:], ws.lnf[(respStart-1+jl)*C:], w0.head, nil, R-jl, C, V)
	// The probabilities are kept for Backward (row jt's are rewritten with
	// the same bits).
	logProbForward(ws.lp[jt:R], ws.probs[jt*V:R*V], ws.logits[jt*V:R*V], ws.tokens[respStart+jt:respStart+R], R-jt, V)
	return ws.lp[:R:R]
}

// Hidden returns the final norm's output of the last Forward, (n,C) row-major,
// as a view valid until the next Forward.
func (ws *Workspace[F]) Hidden() []F {
	return ws.lnf[: ws.n*ws.m.Cfg.C : ws.n*ws.m.Cfg.C]
}

// Backward accumulates into dparams (layout of Tensors) the gradient of
// Σ_j dlogp[j]·lp[j] for the lp of the last Forward:
//
//	dparams += ∇θ Σ_j dlogp[j]·lp[j]
//
// dlogp = all ones gives ∇θ log π(y|x); dlogp = -1/N gives the gradient of the
// mean cross-entropy. It panics if no Forward ran or a length does not match.
func (ws *Workspace[F]) Backward(dparams []F, dlogp []F) {
	ws.backward(dparams, dlogp, false, nil, false)
}

// BackwardSet is Backward that sets dparams to the gradient instead of adding
// to it (dparams need not be cleared first): the weight gradients of the
// linear layers and the head are written by gemm's Set kernels, which
// accumulate each element from +0 without reading the old value, and the
// small tensors (norms, positions, an untied wte) are cleared just before
// their kernel adds to them. This saves a pass over the whole buffer. The
// bits equal clear(dparams) followed by Backward.
func (ws *Workspace[F]) BackwardSet(dparams []F, dlogp []F) {
	ws.backward(dparams, dlogp, true, nil, false)
}

// BackwardSetRows is BackwardSet for a buffer whose untied input embedding
// (wte of a model with an LM head of its own) is zero outside the rows of
// the tokens prev: it clears those rows only, instead of all V, before
// adding the sequence's rows. A sequence's wte gradient is non-zero only in
// the rows of its own tokens, so with prev = the Tokens of the buffer's
// previous BackwardSet or BackwardSetRows the invariant carries over from
// one call to the next (a buffer fresh from make or cleared: prev empty),
// and the bits equal BackwardSet's. For a tied model (the embedding
// gradient is the head's, dense) it is BackwardSet. At pythia-160m's shape
// the full clear was 154 MB of writes per sequence.
func (ws *Workspace[F]) BackwardSetRows(dparams []F, dlogp []F, prev []int32) {
	ws.backward(dparams, dlogp, true, prev, true)
}

// Tokens returns the tokens of the last Forward, a view valid until the
// next Forward.
func (ws *Workspace[F]) Tokens() []int32 {
	return ws.tokens[:ws.n:ws.n]
}

func (ws *Workspace[F]) backward(dparams []F, dlogp []F, set bool, prev []int32, rows bool) {
	zero := func(xs ...[]F) {
		if set {
			for _, x := range xs {
				clear(x)
			}
		}
	}
	cfg := ws.m.Cfg
	if ws.n == 0 {
		panic("model: Backward before Forward")
	}
	n, rs := ws.n, ws.respStart
	R := n - rs
	if len(dlogp) != R {
		panic("model: dlogp length does not match the response length")
	}
	if len(dparams) != len(ws.m.Params) && len(dparams) != 0 {
		panic("model: gradient buffer length does not match the model")
	}
	blk := ws.m.blk
	C, V := cfg.C, cfg.V
	Q3, FC, FF := cfg.qkvWidth(), cfg.fcWidth(), cfg.MLPWidth()
	p := ws.views(0, ws.m.Params)
	g := &ws.frozen // nil views: kernels skip the parameter gradients
	if len(dparams) != 0 {
		g = ws.gradViews(dparams)
	} else if len(g.layers) != cfg.L {
		g.layers = make([]layerParams[F], cfg.L)
	}

	// we kick off the chain rule with dlogp, the weight of each response
	// token's log-prob, headChunk response rows at a time, from the
	// probabilities the forward kept (not recomputed: that cost one more
	// softmax per row), and the head's weight gradient takes the chunks'
	// rows in increasing order, which is the order of one product over all
	// R rows (gemm's contract: each element accumulates its k products in
	// order).
	clear(ws.dlnf[:n*C]) // the rows outside the chunks stay 0
	for j0 := 0; j0 < R; j0 += headChunk {
		k := min(headChunk, R-j0)
		d := ws.dlogits[:k*V]
		clear(d)
		logProbBackward(d, dlogp[j0:j0+k], ws.probs[j0*V:(j0+k)*V], ws.tokens[rs+j0:rs+j0+k], k, V)
		ws.matmulB(ws.dlnf[(rs-1+j0)*C:], g.head, nil, d, ws.lnf[(rs-1+j0)*C:], p.head, k, C, V, set && j0 == 0)
	}
	clear(ws.dres[:n*C])
	last := ws.enc
	if cfg.L > 0 {
		last = ws.layers[cfg.L-1].res3
	}
	zero(g.lnfw, g.lnfb)
	ws.normB(ws.dres, g.lnfw, g.lnfb, ws.dlnf, last, p.lnfw, ws.lnfm, ws.lnfr, n)

	// ws.dres is the gradient of the residual stream. Each block computed
	// res2 = x + attproj and res3 = res2 + fcproj, so the gradient of the block
	// output flows unchanged into both summands: the branch reads ws.dres as its
	// dout, and the norm backward adds its contribution into ws.dres in place.
	// With a parallel residual ln2 read x, not res2: its contribution goes to
	// ws.dpar until the attention branch has read ws.dres = d res3 = d attproj.
	for l := cfg.L - 1; l >= 0; l-- {
		a, w, d := &ws.layers[l], &p.layers[l], &g.layers[l]
		x := ws.enc
		if l > 0 {
			x = ws.layers[l-1].res3
		}
		// res3 = res2 + fcproj(act(fc(ln2(res2 or x))))
		ws.matmulB(ws.dfchg, d.fcprojw, d.fcprojb, ws.dres, a.fchg, w.fcprojw, n, FF, C, set)
		clear(ws.dfch[:n*FC])
		ws.actB(ws.dfch, a.fch, ws.dfchg, n)
		ws.matmulB(ws.dln, d.fcw, d.fcb, ws.dfch, a.ln2, w.fcw, n, C, FC, set)
		zero(d.ln2w, d.ln2b)
		if blk.Parallel {
			clear(ws.dpar[:n*C])
			ws.normB(ws.dpar, d.ln2w, d.ln2b, ws.dln, x, w.ln2w, a.ln2m, a.ln2r, n) // ws.dpar = ln2's part of d x
		} else {
			ws.normB(ws.dres, d.ln2w, d.ln2b, ws.dln, a.res2, w.ln2w, a.ln2m, a.ln2r, n) // ws.dres = d res2
		}
		// res2 = x + attproj(attention(rope(qkv(ln1(x)))))
		ws.matmulB(ws.datty, d.attprojw, d.attprojb, ws.dres, a.atty, w.attprojw, n, C, C, set)
		clear(ws.dqkv[:n*Q3])
		ws.attentionB(ws.dqkv, ws.datt, ws.datty, a.qkv, a.att, n)
		ws.ropeB(ws.dqkv, n)
		ws.matmulB(ws.dln, d.qkvw, d.qkvb, ws.dqkv, a.ln1, w.qkvw, n, C, Q3, set)
		zero(d.ln1w, d.ln1b)
		ws.normB(ws.dres, d.ln1w, d.ln1b, ws.dln, x, w.ln1w, a.ln1m, a.ln1r, n) // ws.dres = d x
		if blk.Parallel {
			residualForward(ws.dres[:n*C], ws.dres[:n*C], ws.dpar[:n*C], n*C)
		}
	}
	if !cfg.Tied { // tied: g.wte is g.head, set above to the head's gradient
		if rows && g.wte != nil { // BackwardSetRows: the other rows are zero
			for _, t := range prev {
				clear(g.wte[int(t)*C : int(t+1)*C])
			}
		} else {
			zero(g.wte)
		}
	}
	switch {
	case g.wte == nil: // frozen
	case blk.Pos == Learned:
		zero(g.wpe)
		encoderBackward(g.wte, g.wpe, ws.dres, ws.tokens[:n], n, C)
	default:
		embedBackward(g.wte, ws.dres, ws.tokens[:n], n, C)
	}
}

// ---------------------------------------------------------------------------
// Parallel kernel launch. Every kernel below is split over a fixed dimension of
// its OUTPUT (rows, heads or channels); each output element is computed by one
// goroutine with the same code and summation order as the serial kernel, so the
// bits do not depend on ws.procs. With procs == 1 the serial kernel is called
// directly (no closure, no allocation).

func (ws *Workspace[F]) par(n int, fn func(lo, hi int)) {
	p := min(ws.procs, n)
	if p <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < p; i++ {
		lo, hi := i*n/p, (i+1)*n/p
		wg.Go(func() { fn(lo, hi) })
	}
	fn(0, n/p)
	wg.Wait()
}

func (ws *Workspace[F]) layerNormF(out, mean, rstd, inp, w, b []F, T, C int) {
	if ws.procs == 1 {
		layerNormForward(out, mean, rstd, inp, w, b, T, C)
		return
	}
	ws.par(T, func(lo, hi int) {
		layerNormForward(out[lo*C:], mean[lo:], rstd[lo:], inp[lo*C:], w, b, hi-lo, C)
	})
}

func (ws *Workspace[F]) layerNormB(dinp, dw, db, dout, inp, w, mean, rstd []F, T, C int) {
	if ws.procs == 1 {
		layerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, T, C)
		return
	}
	// rows of dinp and channels of dw, db are split alike; they are disjoint outputs
	ws.par(ws.procs, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			t0, t1 := k*T/ws.procs, (k+1)*T/ws.procs
			layerNormBackwardInp(dinp[t0*C:], dout[t0*C:], inp[t0*C:], w, mean[t0:], rstd[t0:], t1-t0, C)
			layerNormBackwardParams(dw, db, dout, inp, mean, rstd, T, C, k*C/ws.procs, (k+1)*C/ws.procs)
		}
	})
}

// splitCols reports whether the parallel products of a packed (OC,C) weight
// split the columns of their outputs between the goroutines instead of the
// rows: for a weight of 8 MiB or more (an LM head: GPT-2 small's is 154 MB),
// which the caches do not hold, so that each goroutine streams only its
// share of the weight from memory (split by rows, each streams all of it).
// The bits are the same either way (TestDeterminism splits every packed
// product by columns too). On one GPT-2-small-wide layer with its 50257-token
// head (64 tokens, 32 response rows, a 2-goroutine workspace, weights packed)
// Forward + BackwardSet took 141-144 ms of process CPU time against 176-180
// split by rows (2 interleaved runs of 6, machine loaded 29-32 by other jobs).
// Grad's lanes run serial workspaces (one goroutine each), so this applies
// to the Stepper's own workspace and to one-lane runs.
func splitCols(C, OC int) bool { return C*OC >= splitColsMin }

var splitColsMin = 1 << 21 // floats

func (ws *Workspace[F]) matmulF(out, inp, w, b []F, T, C, OC int) {
	if pk := ws.m.packOf(w); pk != nil {
		if ws.procs == 1 {
			matmulForwardPacked(out, inp, b, pk, T, C, OC)
			return
		}
		if b == nil && splitCols(C, OC) {
			// out = inp·wᵀ, columns of out (rows of w) split
			ws.par(ws.procs, func(lo, hi int) {
				for q := lo; q < hi; q++ {
					gemm.MulPackedCols(as32(out), OC, as32(inp), C, &pk.nt, T, q, ws.procs, true)
				}
			})
			return
		}
		ws.par(T, func(lo, hi int) {
			matmulForwardPacked(out[lo*OC:], inp[lo*C:], b, pk, hi-lo, C, OC)
		})
		return
	}
	if ws.procs == 1 {
		matmulForward(out, inp, w, b, T, C, OC)
		return
	}
	ws.par(T, func(lo, hi int) {
		matmulForward(out[lo*OC:], inp[lo*C:], w, b, hi-lo, C, OC)
	})
}

// matmulB is the backward of matmulF: it SETS dinp (T rows) to dout·w and
// adds doutᵀ·inp, Σ_t dout to dw, db, or sets them with setW (the bits of
// clearing them first; gemm's Set kernels do not read the old values).
// dw nil: the weight is frozen (no dw, db); a Workspace's tap (LoRA) is
// called with the projection's output gradient and input rows.
func (ws *Workspace[F]) matmulB(dinp, dw, db, dout, inp, w []F, T, C, OC int, setW bool) {
	if ws.tap != nil {
		defer ws.tap(w, dout, inp, T, C, OC)
	}
	pk := ws.m.packOf(w)
	if ws.procs == 1 {
		matmulBackwardInpSet(dinp, dout, w, pk, 0, T, C, OC)
		if dw != nil {
			matmulBackwardParams(dw, db, dout, inp, T, C, OC, 0, OC, setW)
		}
		return
	}
	// part k computes rows t of dinp (or its columns, splitCols) and rows o
	// of dw, db of its share
	cols := pk != nil && splitCols(C, OC)
	ws.par(ws.procs, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			if cols {
				gemm.MulPackedCols(as32(dinp), C, as32(dout), OC, &pk.nn, T, k, ws.procs, true)
			} else {
				matmulBackwardInpSet(dinp, dout, w, pk, k*T/ws.procs, (k+1)*T/ws.procs, C, OC)
			}
			if dw != nil {
				matmulBackwardParams(dw, db, dout, inp, T, C, OC, k*OC/ws.procs, (k+1)*OC/ws.procs, setW)
			}
		}
	})
}

// matmulBackwardInpSet sets rows t0..t1-1 of dinp to dout·w, with the
// packed w when pk is not nil.
func matmulBackwardInpSet[F Float](dinp, dout, w []F, pk *weightPack, t0, t1, C, OC int) {
	if pk != nil {
		gemm.MulPackedSet(as32(dinp)[t0*C:], C, as32(dout)[t0*OC:], OC, &pk.nn, t1-t0)
		return
	}
	clear(dinp[t0*C : t1*C])
	matmulBackwardInp(dinp[t0*C:], dout[t0*OC:], w, t1-t0, C, OC)
}

func (ws *Workspace[F]) attentionF(out, att, qkv []F, T, t0 int) {
	cfg := ws.m.Cfg
	H, KV, hs := cfg.H, cfg.KVHeads(), cfg.C/cfg.H
	if ws.procs == 1 {
		gqaForwardHeads(out, att, qkv, T, H, KV, hs, t0, 0, H)
		return
	}
	ws.par(H, func(lo, hi int) { gqaForwardHeads(out, att, qkv, T, H, KV, hs, t0, lo, hi) })
}

// attentionB splits the heads by key/value groups: the query heads of a
// group add into the same dk, dv.
func (ws *Workspace[F]) attentionB(dqkv, datt, dout, qkv, att []F, T int) {
	cfg := ws.m.Cfg
	H, KV, hs := cfg.H, cfg.KVHeads(), cfg.C/cfg.H
	if ws.procs == 1 {
		gqaBackwardHeads(dqkv, datt, dout, qkv, att, T, H, KV, hs, 0, H)
		return
	}
	g := H / KV
	ws.par(KV, func(lo, hi int) { gqaBackwardHeads(dqkv, datt, dout, qkv, att, T, H, KV, hs, lo*g, hi*g) })
}

// normF is the Block's norm (LayerNorm or RMSNorm) of T rows; mean is unused by RMSNorm.
func (ws *Workspace[F]) normF(out, mean, rstd, inp, w, b []F, T int) {
	C, eps := ws.m.Cfg.C, ws.m.Cfg.NormEps()
	rms := ws.m.blk.Norm == RMSNorm
	if ws.procs == 1 {
		if rms {
			rmsNormForward(out, rstd, inp, w, T, C, eps)
		} else {
			layerNormForwardEps(out, mean, rstd, inp, w, b, T, C, eps)
		}
		return
	}
	ws.par(T, func(lo, hi int) {
		if rms {
			rmsNormForward(out[lo*C:], rstd[lo:], inp[lo*C:], w, hi-lo, C, eps)
		} else {
			layerNormForwardEps(out[lo*C:], mean[lo:], rstd[lo:], inp[lo*C:], w, b, hi-lo, C, eps)
		}
	})
}

// normB is the backward of normF (db is nil for RMSNorm).
func (ws *Workspace[F]) normB(dinp, dw, db, dout, inp, w, mean, rstd []F, T int) {
	C := ws.m.Cfg.C
	if dw == nil { // frozen
		ws.par(T, func(lo, hi int) {
			if ws.m.blk.Norm == LayerNorm {
				layerNormBackwardInp(dinp[lo*C:], dout[lo*C:], inp[lo*C:], w, mean[lo:], rstd[lo:], hi-lo, C)
			} else {
				rmsNormBackwardInp(dinp[lo*C:], dout[lo*C:], inp[lo*C:], w, rstd[lo:], hi-lo, C)
			}
		})
		return
	}
	if ws.m.blk.Norm == LayerNorm {
		ws.layerNormB(dinp, dw, db, dout, inp, w, mean, rstd, T, C)
		return
	}
	if ws.procs == 1 {
		rmsNormBackward(dinp, dw, dout, inp, w, rstd, T, C)
		return
	}
	ws.par(ws.procs, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			t0, t1 := k*T/ws.procs, (k+1)*T/ws.procs
			rmsNormBackwardInp(dinp[t0*C:], dout[t0*C:], inp[t0*C:], w, rstd[t0:], t1-t0, C)
			rmsNormBackwardParams(dw, dout, inp, rstd, T, C, k*C/ws.procs, (k+1)*C/ws.procs)
		}
	})
}

// ropeF rotates the q and k heads of rows t0..T-1 of qkv (rotary positions only).
func (ws *Workspace[F]) ropeF(qkv []F, t0, T int) {
	if ws.cos == nil {
		return
	}
	cfg := ws.m.Cfg
	hs, Q3, D2 := cfg.C/cfg.H, cfg.qkvWidth(), len(ws.m.invFreq)
	// q heads then k heads are contiguous: H + KV heads from column 0
	ropeForward(qkv, ws.cos, ws.sin, t0, T, Q3, 0, cfg.H+cfg.KVHeads(), hs, D2)
}

// ropeB turns the gradient of the rotated q and k of rows 0..T-1 into that of the unrotated ones.
func (ws *Workspace[F]) ropeB(dqkv []F, T int) {
	if ws.cos == nil {
		return
	}
	cfg := ws.m.Cfg
	hs, Q3, D2 := cfg.C/cfg.H, cfg.qkvWidth(), len(ws.m.invFreq)
	ropeBackward(dqkv, ws.cos, ws.sin, 0, T, Q3, 0, cfg.H+cfg.KVHeads(), hs, D2)
}

// actF is the Block's MLP activation of T rows: fchg (T,F) from fch (T,F) or (T,2F).
func (ws *Workspace[F]) actF(out, inp []F, T int) {
	FF := ws.m.Cfg.MLPWidth()
	switch ws.m.blk.MLP {
	case GELUTanh:
		ws.geluF(out, inp, T*FF)
	case GELUErf:
		ws.par(T, func(lo, hi int) { geluErfForward(out[lo*FF:], inp[lo*FF:], (hi-lo)*FF) })
	case SwiGLU:
		ws.par(T, func(lo, hi int) { swigluForward(out[lo*FF:], inp[lo*2*FF:], hi-lo, FF) })
	}
}

// actB is the backward of actF: dinp (T,F) or (T,2F) += from dout (T,F).
func (ws *Workspace[F]) actB(dinp, inp, dout []F, T int) {
	FF := ws.m.Cfg.MLPWidth()
	switch ws.m.blk.MLP {
	case GELUTanh:
		ws.geluB(dinp, inp, dout, T*FF)
	case GELUErf:
		ws.par(T, func(lo, hi int) { geluErfBackward(dinp[lo*FF:], inp[lo*FF:], dout[lo*FF:], (hi-lo)*FF) })
	case SwiGLU:
		ws.par(T, func(lo, hi int) { swigluBackward(dinp[lo*2*FF:], inp[lo*2*FF:], dout[lo*FF:], hi-lo, FF) })
	}
}

func (ws *Workspace[F]) geluF(out, inp []F, N int) {
	if ws.procs == 1 {
		geluForward(out, inp, N)
		return
	}
	ws.par(N, func(lo, hi int) { geluForward(out[lo:], inp[lo:], hi-lo) })
}

func (ws *Workspace[F]) geluB(dinp, inp, dout []F, N int) {
	if ws.procs == 1 {
		geluBackward(dinp, inp, dout, N)
		return
	}
	ws.par(N, func(lo, hi int) { geluBackward(dinp[lo:], inp[lo:], dout[lo:], hi-lo) })
}

// gradViews is the number of gradient buffers whose views a Workspace keeps
// (a preference pair alternates between g_w and g_l).
const gradViews = 2

// gradViews returns the tensor views of a gradient buffer, from the cache
// when buf is one of the last gradViews buffers seen (so steady-state calls
// do not allocate), else rebuilt in the oldest slot.
func (ws *Workspace[F]) gradViews(buf []F) *paramViews[F] {
	for slot := 1; slot <= gradViews; slot++ {
		if c := &ws.viewCache[slot]; c.base == &buf[0] && c.n == len(buf) {
			return &c.v
		}
	}
	slot := ws.nextView + 1
	ws.nextView = (ws.nextView + 1) % gradViews
	return ws.views(slot, buf)
}

// views returns the tensor views of buf, rebuilt only when buf is not the
// buffer seen last time in this cache slot (so steady-state calls do not allocate).
func (ws *Workspace[F]) views(slot int, buf []F) *paramViews[F] {
	c := &ws.viewCache[slot]
	if c.base != &buf[0] || c.n != len(buf) {
		c.v = viewsOf(buf, ws.m.Cfg)
		c.base, c.n = &buf[0], len(buf)
	}
	return &c.v
}
