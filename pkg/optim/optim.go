package optim

import (
	"fmt"
	"math"
	"math/big"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"entangle/internal/num"
)

// Float is the element type of parameter, gradient and state buffers.
type Float interface{ ~float32 | ~float64 }

// SGD is stochastic gradient descent as in torch.optim.SGD (no dampening, no Nesterov):
//
//	g = grad + WeightDecay·θ
//	b = g                    on the first step,  b = Momentum·b + g  after  (when Momentum ≠ 0)
//	θ = θ - lr·b             (b = g when Momentum = 0)
type SGD[F Float] struct {
	Momentum    float64
	WeightDecay float64
	M           []F // (N) momentum buffer; nil when Momentum = 0
	T           int // number of steps taken (Adam's t after the step); saved in checkpoints
}

// NewSGD returns SGD over n parameters.
func NewSGD[F Float](n int, momentum, weightDecay float64) *SGD[F] {
	o := &SGD[F]{Momentum: momentum, WeightDecay: weightDecay}
	if momentum != 0 {
		o.M = make([]F, n)
	}
	return o
}

// Step applies one SGD step with learning rate lr to params.
// It panics if the lengths differ.
func (o *SGD[F]) Step(params, grads []F, lr float64) {
	if len(params) != len(grads) || (o.Momentum != 0 && len(o.M) != len(params)) {
		panic("optim: slice lengths do not match")
	}
	for i := range params {
		g := float64(grads[i]) + o.WeightDecay*float64(params[i])
		if o.Momentum != 0 {
			if o.T > 0 {
				g += o.Momentum * float64(o.M[i])
			}
			o.M[i] = F(g)
		}
		params[i] = F(float64(params[i]) - lr*g)
	}
	o.T++
}

// Split sets pre and hist so that Step(params, grads, lr), taken from the
// current state, changes params by
//
//	Δθ_j = −pre_j·grads_j + hist_j
//
// (in real arithmetic; Step rounds θ to F): pre is the step's diagonal
// preconditioner of this step's gradient, hist the part of the update that
// does not come from it. For SGD
//
//	pre_j = lr,   hist_j = −lr·(Momentum·b_j + WeightDecay·θ_j)
//
// with b the momentum buffer (the Momentum term is absent on the first step
// and without momentum), so pre = lr·1 and hist = 0 for plain SGD. It does
// not change the optimizer. It panics if the lengths differ.
func (o *SGD[F]) Split(pre, hist []float64, params, grads []F, lr float64) {
	if len(params) != len(grads) || len(pre) != len(params) || len(hist) != len(params) {
		panic("optim: slice lengths do not match")
	}
	for i := range params {
		h := o.WeightDecay * float64(params[i])
		if o.Momentum != 0 && o.T > 0 {
			h += o.Momentum * float64(o.M[i])
		}
		pre[i], hist[i] = lr, -lr*h
	}
}

// AdamW is torch.optim.AdamW (Loshchilov & Hutter 2019; Kingma & Ba 2015) with
// the hyperparameters Adam (β1, β2, ε; PyTorch's defaults 0.9, 0.999, 1e-8 from
// NewAdamW). At step t = T+1:
//
//	θ = θ·(1 - lr·WeightDecay)                 (decoupled weight decay)
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²
//	θ = θ - lr · (m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + ε)
//
// 1−β1 and 1−β2 are those of β's shortest decimal (Adam.complements): for
// β2 = 0.999 the factor is the double nearest 0.001, where PyTorch's 1 − 0.999
// in double arithmetic is one ulp away.
type AdamW[F Float] struct {
	Adam
	WeightDecay float64
	M, V        []F // (N) first and second moments
	T           int // number of steps taken (Adam's t after the step); saved in checkpoints
}

// Adam holds Adam's hyperparameters.
//
//	| field | symbol | PyTorch name | default | domain  |
//	|-------|--------|--------------|---------|---------|
//	| Beta1 | β1     | betas[0]     | 0.9     | [0, 1)  |
//	| Beta2 | β2     | betas[1]     | 0.999   | [0, 1)  |
//	| Eps   | ε      | eps          | 1e-8    | (0, ∞)  |
type Adam struct {
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
}

// AdamW hyperparameters (PyTorch's defaults).
const (
	Beta1 = 0.9
	Beta2 = 0.999
	Eps   = 1e-8
)

// DefaultAdam returns PyTorch's defaults: β1 0.9, β2 0.999, ε 1e-8.
func DefaultAdam() Adam { return Adam{Beta1: Beta1, Beta2: Beta2, Eps: Eps} }

// Validate reports the first hyperparameter outside its domain (see Adam).
func (a Adam) Validate() error {
	switch {
	case !(a.Beta1 >= 0 && a.Beta1 < 1):
		return fmt.Errorf("adam β1 must be in [0, 1), got %v", a.Beta1)
	case !(a.Beta2 >= 0 && a.Beta2 < 1):
		return fmt.Errorf("adam β2 must be in [0, 1), got %v", a.Beta2)
	case !(a.Eps > 0) || math.IsInf(a.Eps, 1):
		return fmt.Errorf("adam ε must be > 0 and finite, got %v", a.Eps)
	}
	return nil
}

// complements returns 1−β1 and 1−β2 rounded once from β's shortest decimal
// representation (strconv's 'g', -1), so that 0.9 and 0.999 give the doubles
// nearest 0.1 and 0.001, as the constant expressions 1−Beta1 and 1−Beta2 do.
func (a Adam) complements() (c1, c2 float64) {
	return complement(a.Beta1), complement(a.Beta2)
}

func complement(b float64) float64 {
	d := strconv.FormatFloat(b, 'g', -1, 64)
	x, _, err := big.ParseFloat(d, 10, 256, big.ToNearestEven)
	if err != nil {
		return 1 - b // unreachable: FormatFloat's output parses
	}
	c, _ := new(big.Float).SetPrec(256).Sub(big.NewFloat(1), x).Float64()
	return c
}

// NewAdamW returns AdamW over n parameters with zero moments and PyTorch's
// default β1, β2, ε (set Adam to change them before the first step).
func NewAdamW[F Float](n int, weightDecay float64) *AdamW[F] {
	return &AdamW[F]{Adam: DefaultAdam(), WeightDecay: weightDecay, M: make([]F, n), V: make([]F, n)}
}

// Step applies one AdamW step with learning rate lr to params.
// It panics if the lengths differ.
func (o *AdamW[F]) Step(params, grads []F, lr float64) {
	if len(params) != len(grads) || len(o.M) != len(params) || len(o.V) != len(params) {
		panic("optim: slice lengths do not match")
	}
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	c1, c2 := o.complements()
	t := float64(o.T + 1)
	bc1 := 1 - math.Pow(b1, t)
	bc2 := 1 - math.Pow(b2, t)
	decay := 1 - lr*o.WeightDecay
	k := [12]float64{b1, c1, b2, c2, decay, lr, bc1, bc2, eps, eps, eps, eps}
	parts(len(params), func(lo, hi int) {
		adamwPart(params[lo:hi], grads[lo:hi], o.M[lo:hi], o.V[lo:hi], &k)
	})
	o.T++
}

// adamwFast is adamwRef for float32 buffers on SIMD registers, for the
// first elements (it returns how many: a multiple of the register width),
// nil where the CPU has no such kernel (adamw_amd64.go: AVX2). It gives
// adamwRef's bits: the same float64 operations in the same order, each
// correctly rounded, no fused multiply-add (TestAdamWKernel).
var adamwFast func(p, g, m, v []float32, k *[12]float64) int

// adamwPart is one part of AdamW.Step: adamwFast where there is one for
// float32 buffers, adamwRef for the rest.
func adamwPart[F Float](ps, gs, ms, vs []F, k *[12]float64) {
	i := 0
	if adamwFast != nil && unsafe.Sizeof(F(0)) == 4 && len(ps) > 0 {
		i = adamwFast(num.As32(ps), num.As32(gs), num.As32(ms), num.As32(vs), k)
	}
	adamwRef(ps[i:], gs[i:], ms[i:], vs[i:], k)
}

// adamwRef is the scalar definition of one AdamW step over a part, in
// float64 with k = β1, 1−β1, β2, 1−β2, decay = 1−lr·λ, lr, bc1 = 1−β1^t,
// bc2 = 1−β2^t, ε (then ε repeated for the SIMD kernel):
//
//	m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g·g   (stored rounded to F)
//	θ = θ·decay − lr·(m/bc1)/(√(v/bc2) + ε)
func adamwRef[F Float](ps, gs, ms, vs []F, k *[12]float64) {
	b1, c1, b2, c2, decay, lr, bc1, bc2, eps := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
	gs, ms, vs = gs[:len(ps)], ms[:len(ps)], vs[:len(ps)]
	for i := range ps {
		g := float64(gs[i])
		m := b1*float64(ms[i]) + c1*g
		v := b2*float64(vs[i]) + c2*g*g
		ms[i], vs[i] = F(m), F(v)
		p := float64(ps[i]) * decay
		ps[i] = F(p - lr*(m/bc1)/(math.Sqrt(v/bc2)+eps))
	}
}

// partLen is the length of the fixed parts of the parameter vector over which
// parts splits an element-wise update: every element's new value depends on
// that element alone, so the split (and GOMAXPROCS) cannot change a bit.
const partLen = 1 << 16

// parts calls fn(lo, hi) for the consecutive parts [lo, hi) of length
// partLen (the last one shorter) covering [0, n), on up to GOMAXPROCS
// goroutines (the caller's included) taking the parts in turn. Short vectors
// run on the calling goroutine.
func parts(n int, fn func(lo, hi int)) {
	np := (n + partLen - 1) / partLen
	w := min(runtime.GOMAXPROCS(0), np)
	if w <= 1 {
		fn(0, n)
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			k := int(next.Add(1)) - 1
			if k >= np {
				return
			}
			fn(k*partLen, min(n, (k+1)*partLen))
		}
	}
	var wg sync.WaitGroup
	for range w - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// Split sets pre and hist so that Step(params, grads, lr), taken from the
// current state, changes params by Δθ_j = −pre_j·grads_j + hist_j (in real
// arithmetic; Step rounds θ and the moments to F). Adam's update is not
// linear in the gradient, because v depends on g², but given this step's
// second moment it is linear in this step's contribution (1−β1)·g to m:
// with v_j = β2·v'_j + (1−β2)·g_j² (v', m' the moments before the step) and
// the denominator d_j = (1−β1^t)·(√(v_j/(1−β2^t)) + ε),
//
//	pre_j  = lr·(1−β1)/d_j                       (this step's gradient)
//	hist_j = −lr·β1·m'_j/d_j − lr·WeightDecay·θ_j  (momentum carried over; decoupled decay)
//
// pre is positive, so −pre⊙g is a descent direction; it depends on g only
// through v. It does not change the optimizer. It panics if the lengths
// differ.
func (o *AdamW[F]) Split(pre, hist []float64, params, grads []F, lr float64) {
	if len(params) != len(grads) || len(o.M) != len(params) || len(pre) != len(params) || len(hist) != len(params) {
		panic("optim: slice lengths do not match")
	}
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	c1, c2 := o.complements()
	t := float64(o.T + 1)
	bc1 := 1 - math.Pow(b1, t)
	bc2 := 1 - math.Pow(b2, t)
	for i := range params {
		g := float64(grads[i])
		v := b2*float64(o.V[i]) + c2*g*g
		d := bc1 * (math.Sqrt(v/bc2) + eps)
		pre[i] = lr * c1 / d
		hist[i] = -lr*b1*float64(o.M[i])/d - lr*o.WeightDecay*float64(params[i])
	}
}

// ClipGlobalNorm returns the L2 norm of grads and, if it exceeds maxNorm >
// 0, scales grads by maxNorm/norm (torch.nn.utils.clip_grad_norm_, without
// its 1e-6 fudge). maxNorm ≤ 0 only measures. The squares are summed in
// float64 over the fixed parts of partLen elements (each in index order),
// and the parts' sums are added in order: the parts run on up to GOMAXPROCS
// goroutines, and the bits do not depend on how many. (A vector of at most
// partLen elements is one part: the serial sum.)
func ClipGlobalNorm[F Float](grads []F, maxNorm float64) (norm float64) {
	n := len(grads)
	sums := make([]float64, (n+partLen-1)/partLen)
	parts(n, func(lo, hi int) {
		for k := lo; k < hi; k += partLen {
			var s float64
			for _, g := range grads[k:min(hi, k+partLen)] {
				s += float64(g) * float64(g)
			}
			sums[k/partLen] = s
		}
	})
	var s float64
	for _, x := range sums {
		s += x
	}
	norm = math.Sqrt(s)
	if maxNorm > 0 && norm > maxNorm {
		scale := maxNorm / norm
		parts(n, func(lo, hi int) {
			for i, g := range grads[lo:hi] {
				grads[lo+i] = F(float64(g) * scale)
			}
		})
	}
	return norm
}

// Schedule is a learning-rate schedule in nanoGPT's get_lr shape:
//
//  1. step < Warmup:           Peak·(step+1)/Warmup              (linear warmup)
//  2. step ≥ Total:            Min
//  3. in between, r = (step-Warmup)/(Total-Warmup) ∈ [0,1):
//     "cosine":   Min + 0.5·(1+cos(π·r))·(Peak-Min)
//     "linear":   Min + (1-r)·(Peak-Min)
//     "constant": Peak
type Schedule struct {
	Warmup, Total int     // warmup steps; step from which the rate is Min
	Peak, Min     float64 // learning rates
	Decay         string  // "cosine" | "linear" | "constant"
}

// Validate reports whether the schedule is usable.
func (s Schedule) Validate() error {
	switch {
	case s.Warmup < 0 || s.Total < s.Warmup:
		return fmt.Errorf("optim: schedule needs 0 ≤ warmup ≤ total, got warmup=%d total=%d", s.Warmup, s.Total)
	case s.Decay != "cosine" && s.Decay != "linear" && s.Decay != "constant":
		return fmt.Errorf("optim: unknown decay %q, want cosine, linear or constant", s.Decay)
	}
	return nil
}

// LR returns the learning rate at step (0-based).
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	if s.Decay == "constant" {
		return s.Peak
	}
	if step >= s.Total {
		return s.Min
	}
	r := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	if s.Decay == "linear" {
		return s.Min + (1-r)*(s.Peak-s.Min)
	}
	return s.Min + 0.5*(1+math.Cos(math.Pi*r))*(s.Peak-s.Min)
}

// Splitter is an optimizer whose next step Split writes as a preconditioned
// gradient plus a history term (SGD, AdamW).
type Splitter[F Float] interface {
	Split(pre, hist []float64, params, grads []F, lr float64)
}

// SplitClipped is Split of the step ClipGlobalNorm(g, maxNorm) followed by
// o.Step(params, g, lr) applies to g = dst (F values given in float64): it
// sets pre and hist so that the step changes params by Δθ = −pre⊙dst + hist.
// Clipping scales g to F(c·dst_j); pre_j absorbs it (o's pre_j times
// clipped_j/dst_j), so the split holds to the rounding of the step itself.
// buf is scratch of len(params) values.
func SplitClipped[F Float](o Splitter[F], pre, hist []float64, params []F, dst []float64, maxNorm, lr float64, buf []F) {
	for j, v := range dst {
		buf[j] = F(v)
	}
	ClipGlobalNorm(buf, maxNorm)
	o.Split(pre, hist, params, buf, lr)
	for j, v := range dst {
		if v != 0 {
			pre[j] *= float64(buf[j]) / v
		}
	}
}
