package optim

import (
	"fmt"
	"math"
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

// AdamW is torch.optim.AdamW (Loshchilov & Hutter 2019; Kingma & Ba 2015) with
// β1 = 0.9, β2 = 0.999, ε = 1e-8. At step t = T+1:
//
//	θ = θ·(1 - lr·WeightDecay)                 (decoupled weight decay)
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²
//	θ = θ - lr · (m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + ε)
type AdamW[F Float] struct {
	WeightDecay float64
	M, V        []F // (N) first and second moments
	T           int // number of steps taken (Adam's t after the step); saved in checkpoints
}

// AdamW hyperparameters (PyTorch's defaults).
const (
	Beta1 = 0.9
	Beta2 = 0.999
	Eps   = 1e-8
)

// NewAdamW returns AdamW over n parameters with zero moments.
func NewAdamW[F Float](n int, weightDecay float64) *AdamW[F] {
	return &AdamW[F]{WeightDecay: weightDecay, M: make([]F, n), V: make([]F, n)}
}

// Step applies one AdamW step with learning rate lr to params.
// It panics if the lengths differ.
func (o *AdamW[F]) Step(params, grads []F, lr float64) {
	if len(params) != len(grads) || len(o.M) != len(params) || len(o.V) != len(params) {
		panic("optim: slice lengths do not match")
	}
	t := float64(o.T + 1)
	bc1 := 1 - math.Pow(Beta1, t)
	bc2 := 1 - math.Pow(Beta2, t)
	decay := 1 - lr*o.WeightDecay
	for i := range params {
		g := float64(grads[i])
		m := Beta1*float64(o.M[i]) + (1-Beta1)*g
		v := Beta2*float64(o.V[i]) + (1-Beta2)*g*g
		o.M[i], o.V[i] = F(m), F(v)
		p := float64(params[i]) * decay
		params[i] = F(p - lr*(m/bc1)/(math.Sqrt(v/bc2)+Eps))
	}
	o.T++
}

// ClipGlobalNorm returns the L2 norm of grads (summed in float64, in index
// order) and, if it exceeds maxNorm > 0, scales grads by maxNorm/norm
// (torch.nn.utils.clip_grad_norm_, without its 1e-6 fudge). maxNorm ≤ 0 only
// measures.
func ClipGlobalNorm[F Float](grads []F, maxNorm float64) (norm float64) {
	var s float64
	for _, g := range grads {
		s += float64(g) * float64(g)
	}
	norm = math.Sqrt(s)
	if maxNorm > 0 && norm > maxNorm {
		scale := maxNorm / norm
		for i, g := range grads {
			grads[i] = F(float64(g) * scale)
		}
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
