package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"unsafe"

	"entangle/internal/gemm"
)

// LoRA adapters (Hu et al. 2021, in the semantics of the peft library). An
// adapted projection y = W·x (+ b), W of shape (out, in) in the nn.Linear
// orientation, computes
//
//	y = W₀·x + s·B·(A·x) (+ b),   A (r, in), B (out, r), s = α/r
//
// with W₀ frozen. The model computes this as one projection with the merged
// weight W = W₀ + s·B·A (LoRA.Merge), which is the same function; the
// adapted rows' W₀ are kept in the LoRA (a copy of the adapted rows only,
// not of the model), so LoRA.Unmerge restores the base model exactly
// (adapters disabled: the reference model) and Merge after an optimizer step
// recomputes W from W₀, never accumulating rounding.
//
// Gradients. With G = ∂ℓ/∂W (out, in) the gradient of the merged weight,
// which Workspace.Backward computes as for any weight (G = Σ_t dy_t·x_tᵀ),
//
//	∂ℓ/∂A = s·Bᵀ·G   (r, in)     = s·Σ_t (Bᵀ dy_t)·x_tᵀ
//	∂ℓ/∂B = s·G·Aᵀ   (out, r)    = s·Σ_t dy_t·(A x_t)ᵀ
//
// (LoRA.Grad): the adapter gradients are the projections of the full-weight
// gradient, so one backward pass gives the gradient with respect to every
// base parameter (the "all parameters" statistics) and, from it, the
// adapter gradient (the authors' setting). Base parameters are frozen by the
// caller: only LoRA.Params is given to the optimizer.
//
// Adapter-only backward (LoRA.Backward). When only the adapter gradient
// is wanted, G need not be formed: with X (T, in) a site's input rows and D
// (T, out) the gradient of its output rows (of the merged projection, which
// is the adapted one),
//
//	∂ℓ/∂B = s·Dᵀ·(X·Aᵀ)   (out, r)
//	∂ℓ/∂A = s·(D·B)ᵀ·X    (r, in)
//
// 2·T·r·(in+out) multiply-adds per site instead of the T·in·out of G, and
// no weight gradient of any frozen tensor (every base tensor) is formed:
// the backward computes only the activations' gradients, which it needs
// anyway, and these products.
//
// A site may adapt a row block of a fused tensor: Llama's q_proj is rows
// 0..H·hs of attn.qkv.w, GPT-2's c_attn (which peft adapts as one matrix)
// is all of it. Init follows peft: A ~ kaiming_uniform(a=√5), that is
// U(−1/√in, 1/√in), B = 0, so the adapted model starts as the base model.

// LoRASite is one adapted projection: rows Row0..Row0+Out of the weight
// tensor Tensor (of row length In). Name is the caller's name for it (the
// Hugging Face module path).
type LoRASite struct {
	Name   string
	Tensor string
	Row0   int
	Out    int
	In     int
}

// LoRA is a set of adapters on a model's projections; Params holds, for
// every site in order, A (R, In) then B (Out, R).
type LoRA[F Float] struct {
	R      int
	Alpha  float64
	Sites  []LoRASite
	Params []F

	m      *Model[F]
	offs   []int // offset of each site's A in Params (B follows at offs+R·In)
	wOffs  []int // offset of each site's first adapted weight element in m.Params
	tOffs  []int // offset of each site's tensor in m.Params
	base   []F   // W₀ of every site's rows, in site order
	bOffs  []int // offset of each site's W₀ in base
	merged bool
}

// NewLoRA returns adapters of rank r and scale alpha/r on the sites of m,
// all zero (call Init, or fill Params), with the current m.Params as W₀.
// The model is not changed until Merge.
func NewLoRA[F Float](m *Model[F], r int, alpha float64, sites []LoRASite) (*LoRA[F], error) {
	if r < 1 {
		return nil, errors.New("model: LoRA rank must be at least 1")
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, errors.New("model: LoRA alpha must be positive and finite")
	}
	if len(sites) == 0 {
		return nil, errors.New("model: LoRA without target modules")
	}
	byName := map[string]Tensor{}
	for _, t := range Tensors(m.Cfg) {
		byName[t.Name] = t
	}
	a := &LoRA[F]{R: r, Alpha: alpha, Sites: sites, m: m}
	n, nb := 0, 0
	for _, st := range sites {
		t, ok := byName[st.Tensor]
		if !ok || len(t.Shape) != 2 || t.Shape[1] != st.In || st.Row0 < 0 || st.Out < 1 || st.Row0+st.Out > t.Shape[0] {
			return nil, fmt.Errorf("model: LoRA site %s: rows %d..%d of %s do not fit the model", st.Name, st.Row0, st.Row0+st.Out, st.Tensor)
		}
		for _, o := range sites[:len(a.offs)] {
			if o.Tensor == st.Tensor && o.Row0 < st.Row0+st.Out && st.Row0 < o.Row0+o.Out {
				return nil, fmt.Errorf("model: LoRA sites %s and %s adapt the same rows", o.Name, st.Name)
			}
		}
		a.offs = append(a.offs, n)
		a.wOffs = append(a.wOffs, t.Offset+st.Row0*st.In)
		a.tOffs = append(a.tOffs, t.Offset)
		a.bOffs = append(a.bOffs, nb)
		n += r * (st.In + st.Out)
		nb += st.Out * st.In
	}
	a.Params = make([]F, n)
	a.base = make([]F, nb)
	for i, st := range sites {
		copy(a.base[a.bOffs[i]:a.bOffs[i]+st.Out*st.In], m.Params[a.wOffs[i]:])
	}
	return a, nil
}

// Scale is s = α/r.
func (a *LoRA[F]) Scale() float64 { return a.Alpha / float64(a.R) }

// Tensors returns the adapter parameter groups in Params order:
// "<site>.lora_A" (R, In) and "<site>.lora_B" (Out, R) for every site.
func (a *LoRA[F]) Tensors() []Tensor { return LoRATensors(a.R, a.Sites) }

// LoRATensors is the adapter tensor table of rank-r adapters on sites (the
// layout of LoRA.Params), without a model.
func LoRATensors(r int, sites []LoRASite) []Tensor {
	var ts []Tensor
	off := 0
	for _, st := range sites {
		ts = append(ts,
			Tensor{Name: st.Name + ".lora_A", Shape: []int{r, st.In}, Offset: off, Size: r * st.In},
			Tensor{Name: st.Name + ".lora_B", Shape: []int{st.Out, r}, Offset: off + r*st.In, Size: st.Out * r})
		off += r * (st.In + st.Out)
	}
	return ts
}

// AB returns views of site i's A (R, In) and B (Out, R) in buf (Params or a
// gradient or moment buffer of the same layout).
func (a *LoRA[F]) AB(buf []F, i int) (A, B []F) {
	st, o := a.Sites[i], a.offs[i]
	na := a.R * st.In
	return buf[o : o+na : o+na], buf[o+na : o+na+st.Out*a.R : o+na+st.Out*a.R]
}

// Init sets every A to peft's kaiming_uniform_(a=√5) draw, U(−1/√In, 1/√In)
// (gain √(2/(1+5)), bound gain·√(3/In)), and every B to zero, drawing from
// rand.New(rand.NewPCG(seed, 1)) in site order, row-major.
func (a *LoRA[F]) Init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i, st := range a.Sites {
		A, B := a.AB(a.Params, i)
		bound := 1 / math.Sqrt(float64(st.In))
		for j := range A {
			A[j] = F(bound * (2*rng.Float64() - 1))
		}
		clear(B)
	}
}

// Merged reports whether the model's adapted rows hold W₀ + s·B·A.
func (a *LoRA[F]) Merged() bool { return a.merged }

// Merge sets every adapted block of the model's parameters to
// W = W₀ + s·(B·A), the product accumulated in increasing r (float32: one
// fused accumulator per element, internal/gemm), then scaled and added to
// W₀. Sites run in parallel; each element is computed by one goroutine, so
// the bits do not depend on GOMAXPROCS. Call it again after every change of
// Params (an optimizer step); it unpacks packed weights (Model.PackWeights).
func (a *LoRA[F]) Merge() {
	a.m.UnpackWeights()
	s := F(a.Scale())
	a.forSites(func(i int) {
		st := a.Sites[i]
		A, B := a.AB(a.Params, i)
		w := a.m.Params[a.wOffs[i] : a.wOffs[i]+st.Out*st.In]
		w0 := a.base[a.bOffs[i] : a.bOffs[i]+st.Out*st.In]
		clear(w)
		mulNN(w, B, A, st.Out, st.In, a.R) // w = B·A
		for j := range w {
			w[j] = w0[j] + s*w[j]
		}
	})
	a.merged = true
}

// Unmerge restores W₀ in every adapted block (the base model: adapters
// disabled), exactly.
func (a *LoRA[F]) Unmerge() {
	a.m.UnpackWeights()
	for i, st := range a.Sites {
		copy(a.m.Params[a.wOffs[i]:a.wOffs[i]+st.Out*st.In], a.base[a.bOffs[i]:a.bOffs[i]+st.Out*st.In])
	}
	a.merged = false
}

// Base returns the W₀ rows of site i, (Out, In).
func (a *LoRA[F]) Base(i int) []F {
	st := a.Sites[i]
	return a.base[a.bOffs[i] : a.bOffs[i]+st.Out*st.In]
}

// Grad sets dst (len(Params)) to the adapter gradient given dW, a gradient
// with respect to all model parameters (the layout of Tensors(m.Cfg)) taken
// at the merged weights:
//
//	dA = s·Bᵀ·G,  dB = s·G·Aᵀ   with G the site's rows of dW
//
// Serial (no goroutines): for callers that run one pair per goroutine.
// Each element sums over out (dA) or in (dB) in increasing order.
func (a *LoRA[F]) Grad(dst, dW []F) {
	for i := range a.Sites {
		a.siteGrad(dst, dW, i)
	}
}

// GradParallel is Grad with the sites split between GOMAXPROCS goroutines
// (same bits).
func (a *LoRA[F]) GradParallel(dst, dW []F) {
	a.forSites(func(i int) { a.siteGrad(dst, dW, i) })
}

func (a *LoRA[F]) siteGrad(dst, dW []F, i int) {
	if len(dst) != len(a.Params) || len(dW) != len(a.m.Params) {
		panic("model: LoRA.Grad: buffer lengths")
	}
	st := a.Sites[i]
	s := F(a.Scale())
	A, B := a.AB(a.Params, i)
	dA, dB := a.AB(dst, i)
	G := dW[a.wOffs[i] : a.wOffs[i]+st.Out*st.In]
	clear(dA)
	clear(dB)
	mulTN(dA, B, G, a.R, st.In, st.Out) // dA = Bᵀ·G
	mulNT(dB, G, A, st.Out, a.R, st.In) // dB = G·Aᵀ
	for j := range dA {
		dA[j] *= s
	}
	for j := range dB {
		dB[j] *= s
	}
}

// Backward adds to dst (len(Params)) the adapter gradient of
// Σ_j dlogp[j]·lp[j] for the lp of ws's last Forward (ws a workspace of
// the adapted model, the adapters merged), forming no gradient of a base
// parameter: per site dB += Dᵀ(s·X·Aᵀ), dA += (s·D·B)ᵀX from the site's
// input rows X and output gradient D, taken while the backward passes the
// site's projection. The products run on the calling goroutine (the
// workspace's kernels on its own); each element of dst sums over the
// sequence's rows in increasing order, so the bits do not depend on
// GOMAXPROCS. In exact arithmetic the gradient equals Grad of the full
// gradient.
func (a *LoRA[F]) Backward(ws *Workspace[F], dst, dlogp []F) {
	if len(dst) != len(a.Params) {
		panic("model: LoRA.Backward: dst length")
	}
	if ws.m != a.m {
		panic("model: LoRA.Backward: the workspace is not the adapted model's")
	}
	var buf []F
	ws.tap = func(w, dout, inp []F, T, C, OC int) {
		for i, st := range a.Sites {
			if &a.m.Params[a.tOffs[i]] != &w[0] || st.In != C {
				continue
			}
			if len(buf) < 2*T*a.R {
				buf = make([]F, 2*T*a.R)
			}
			a.siteBackward(dst, dout[st.Row0:], OC, inp, T, i, buf)
		}
	}
	defer func() { ws.tap = nil }()
	ws.backward(nil, dlogp, false, nil, false)
}

// BackwardSet is Backward that sets dst instead of adding to it.
func (a *LoRA[F]) BackwardSet(ws *Workspace[F], dst, dlogp []F) {
	clear(dst)
	a.Backward(ws, dst, dlogp)
}

// siteBackward adds site i's adapter gradient to dst: D (T, Out) with row
// stride ldd, X (T, In); buf holds 2·T·R scratch values.
func (a *LoRA[F]) siteBackward(dst, D []F, ldd int, X []F, T, i int, buf []F) {
	st, r := a.Sites[i], a.R
	s := F(a.Scale())
	A, B := a.AB(a.Params, i)
	dA, dB := a.AB(dst, i)
	xa, db := buf[:T*r], buf[T*r:2*T*r]
	clear(xa)
	clear(db)
	mulNTld(xa, r, X, st.In, A, st.In, T, r, st.In) // X·Aᵀ (T, r)
	mulNNld(db, r, D, ldd, B, r, T, r, st.Out)      // D·B (T, r)
	for j := range xa {
		xa[j] *= s
		db[j] *= s
	}
	mulTNld(dB, r, D, ldd, xa, r, st.Out, r, T)      // dB += Dᵀ(s·X·Aᵀ)
	mulTNld(dA, st.In, db, r, X, st.In, r, st.In, T) // dA += (s·D·B)ᵀX
}

// forSites runs fn(i) for every site on up to GOMAXPROCS goroutines.
func (a *LoRA[F]) forSites(fn func(i int)) {
	n := min(runtime.GOMAXPROCS(0), len(a.Sites))
	if n <= 1 {
		for i := range a.Sites {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range a.Sites {
		next <- i
	}
	close(next)
	wg.Wait()
}

// mulNN: c (m,n) += a (m,k) · b (k,n), contiguous.
func mulNN[F Float](c, a, b []F, m, n, k int) { mulNNld(c, n, a, k, b, n, m, n, k) }

// mulTN: c (m,n) += a (k,m)ᵀ · b (k,n), contiguous.
func mulTN[F Float](c, a, b []F, m, n, k int) { mulTNld(c, n, a, m, b, n, m, n, k) }

// mulNT: c (m,n) += a (m,k) · b (n,k)ᵀ, contiguous.
func mulNT[F Float](c, a, b []F, m, n, k int) { mulNTld(c, n, a, k, b, k, m, n, k) }

// The products below take row strides (ldc, lda, ldb) as internal/gemm
// does, which computes them for float32; float64 sums each element's k
// products in increasing order.

// mulNNld: c (m,n) += a (m,k) · b (k,n).
func mulNNld[F Float](c []F, ldc int, a []F, lda int, b []F, ldb int, m, n, k int) {
	if unsafe.Sizeof(F(0)) == 4 {
		gemm.NN(as32(c), ldc, as32(a), lda, as32(b), ldb, m, n, k)
		return
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s F
			for p := 0; p < k; p++ {
				s += a[i*lda+p] * b[p*ldb+j]
			}
			c[i*ldc+j] += s
		}
	}
}

// mulTNld: c (m,n) += a (k,m)ᵀ · b (k,n).
func mulTNld[F Float](c []F, ldc int, a []F, lda int, b []F, ldb int, m, n, k int) {
	if unsafe.Sizeof(F(0)) == 4 {
		gemm.TN(as32(c), ldc, as32(a), lda, as32(b), ldb, m, n, k)
		return
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s F
			for p := 0; p < k; p++ {
				s += a[p*lda+i] * b[p*ldb+j]
			}
			c[i*ldc+j] += s
		}
	}
}

// mulNTld: c (m,n) += a (m,k) · b (n,k)ᵀ.
func mulNTld[F Float](c []F, ldc int, a []F, lda int, b []F, ldb int, m, n, k int) {
	if unsafe.Sizeof(F(0)) == 4 {
		gemm.NT(as32(c), ldc, as32(a), lda, as32(b), ldb, m, n, k)
		return
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s F
			for p := 0; p < k; p++ {
				s += a[i*lda+p] * b[j*ldb+p]
			}
			c[i*ldc+j] += s
		}
	}
}
