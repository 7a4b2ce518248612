package model

import (
	"math"
	"unsafe"

	"entangle/internal/gemm"
)

// swigluForward is the gated activation of Llama's MLP, on rows whose first
// F columns are the gate g and the next F the up projection u:
//
//	silu(g) = g·σ(g),  σ(g) = 1/(1+exp(-g))
//	out[t,i] = silu(inp[t,i])·inp[t,F+i]
//
// out is (T,F); inp is (T,2F). float64 evaluates each element in float64;
// float32 runs swiglu32 where gemm has SIMD kernels for its exponential,
// else the float64 formula.
func swigluForward[F Float](out, inp []F, T, FF int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		swiglu32(as32(out), as32(inp), T, FF)
		return
	}
	for t := 0; t < T; t++ {
		g, u, o := inp[t*2*FF:t*2*FF+FF], inp[t*2*FF+FF:(t+1)*2*FF], out[t*FF:(t+1)*FF]
		for i := range o {
			x := float64(g[i])
			o[i] = F(x / (1 + math.Exp(-x)) * float64(u[i]))
		}
	}
}

// swigluBackward accumulates the gradients of swigluForward:
//
//	dinp[t,i]   += dout[t,i]·u·σ(g)·(1 + g·(1-σ(g)))    (silu'(g) = σ(g)·(1 + g·(1-σ(g))))
//	dinp[t,F+i] += dout[t,i]·silu(g)
//
// float32 as swigluForward (swigluGrad32).
func swigluBackward[F Float](dinp, inp, dout []F, T, FF int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		swigluGrad32(as32(dinp), as32(inp), as32(dout), T, FF)
		return
	}
	for t := 0; t < T; t++ {
		g, u, d := inp[t*2*FF:t*2*FF+FF], inp[t*2*FF+FF:(t+1)*2*FF], dout[t*FF:(t+1)*FF]
		dg, du := dinp[t*2*FF:t*2*FF+FF], dinp[t*2*FF+FF:(t+1)*2*FF]
		for i := range d {
			x, y, gi := float64(g[i]), float64(u[i]), float64(d[i])
			sg := 1 / (1 + math.Exp(-x))
			dg[i] += F(gi * y * sg * (1 + x*(1-sg)))
			du[i] += F(gi * x * sg)
		}
	}
}

// swigluChunk is the number of elements whose exponentials swiglu32 and
// swigluGrad32 take in one gemm.Exp call (a stack buffer).
const swigluChunk = 256

// swiglu32 is swigluForward in float32. The float32 definition, per element
// (every operation rounded to float32, no fused multiply-add):
//
//	e = gemm.Exp(-g)   (exp32: the same bits with AVX-512, AVX2 or the scalar reference)
//	σ = 1/(1+e),  out = (g·σ)·u
//
// The exponentials run on gemm's SIMD kernels; the rest is a few float32
// operations. Each element's bits depend on its inputs only.
func swiglu32(out, inp []float32, T, FF int) {
	var neg, e [swigluChunk]float32
	for t := 0; t < T; t++ {
		g, u, o := inp[t*2*FF:t*2*FF+FF], inp[t*2*FF+FF:(t+1)*2*FF], out[t*FF:(t+1)*FF]
		for i0 := 0; i0 < FF; i0 += swigluChunk {
			n := min(swigluChunk, FF-i0)
			for k := range n {
				neg[k] = -g[i0+k]
			}
			gemm.Exp(e[:n], neg[:n])
			for k := range n {
				s := 1 / (1 + e[k])
				o[i0+k] = float32(g[i0+k]*s) * u[i0+k]
			}
		}
	}
}

// swigluGrad32 is swigluBackward in float32, with e and σ as in swiglu32,
// every operation rounded to float32:
//
//	ω = e·σ if e < 1 (σ > 1/2: 1-σ would cancel), else 1-σ
//	dinp[t,i]   = dinp[t,i] + ((d·u)·σ)·(1 + g·ω)
//	dinp[t,F+i] = dinp[t,F+i] + d·(g·σ)
//
// The step after the exponentials runs on AVX2 where the CPU has it, with
// the bits of its scalar definition (swigluGradStep; TestSwiGLUAllFloat32).
func swigluGrad32(dinp, inp, dout []float32, T, FF int) {
	var neg, e [swigluChunk]float32
	for t := 0; t < T; t++ {
		g, u, d := inp[t*2*FF:t*2*FF+FF], inp[t*2*FF+FF:(t+1)*2*FF], dout[t*FF:(t+1)*FF]
		dg, du := dinp[t*2*FF:t*2*FF+FF], dinp[t*2*FF+FF:(t+1)*2*FF]
		for i0 := 0; i0 < FF; i0 += swigluChunk {
			n := min(swigluChunk, FF-i0)
			for k := range n {
				neg[k] = -g[i0+k]
			}
			gemm.Exp(e[:n], neg[:n])
			swigluGradStep(dg[i0:i0+n], du[i0:i0+n], g[i0:i0+n], u[i0:i0+n], d[i0:i0+n], e[:n])
		}
	}
}

// swigluGradFast is swigluGradStepRef on SIMD registers for the first
// elements of g (it returns how many: a multiple of the register width),
// nil where the CPU has no such kernel (erfc_amd64.go: AVX2).
var swigluGradFast func(dg, du, g, u, d, e []float32) int

// swigluGradStep is swigluGrad32's step after the exponentials
// (swigluGradStepRef), on swigluGradFast where there is one.
func swigluGradStep(dg, du, g, u, d, e []float32) {
	k := 0
	if swigluGradFast != nil {
		k = swigluGradFast(dg, du, g, u, d, e)
	}
	swigluGradStepRef(dg[k:], du[k:], g[k:], u[k:], d[k:], e[k:])
}

// swigluGradStepRef is the scalar definition of swigluGrad32's step after
// the exponentials e = exp32(-g): the formulas of swigluGrad32, each
// operation rounded to float32.
func swigluGradStepRef(dg, du, g, u, d, e []float32) {
	dg, du, u, d, e = dg[:len(g)], du[:len(g)], u[:len(g)], d[:len(g)], e[:len(g)]
	for k, x := range g {
		y, gi := u[k], d[k]
		s := 1 / (1 + e[k])
		om := 1 - s // 1-σ: exact enough where σ ≤ 1/2; e·σ where σ is near 1
		if e[k] < 1 {
			om = e[k] * s
		}
		// explicit conversions round each product: no fused multiply-add
		a := float32(float32(gi*y) * s)
		b := 1 + float32(x*om)
		dg[k] += float32(a * b)
		du[k] += float32(gi * float32(x*s))
	}
}

// geluErfForward is the exact GELU (PyTorch's default, GPT-NeoX's "gelu"):
//
//	out = 0.5·x·(1 + erf(x/√2)) = x·Φ(x)
//
// out, inp are (N). float64 evaluates it with math.Erf; float32 runs
// geluErf32 where gemm has SIMD kernels for its exponential, else the
// float64 formula.
func geluErfForward[F Float](out, inp []F, N int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		geluErf32(as32(out)[:N], as32(inp)[:N], nil)
		return
	}
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		out[i] = F(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
	}
}

// geluErfBackward accumulates dinp += GELU'(inp)·dout with
//
//	GELU'(x) = 0.5·(1 + erf(x/√2)) + x·exp(-x²/2)/√(2π) = Φ(x) + x·φ(x)
//
// float32 as geluErfForward (geluErf32).
func geluErfBackward[F Float](dinp, inp, dout []F, N int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		geluErf32(as32(dinp)[:N], as32(inp)[:N], as32(dout)[:N])
		return
	}
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		d := 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
		dinp[i] += F(d * float64(dout[i]))
	}
}

// erfcC are the coefficients c_0..c_9 of the Chebyshev fit of erfc (Press
// et al., Numerical Recipes, erfcc: fractional error below 1.2e-7):
//
//	erfc(z) ≈ t·exp(-z² + c_0 + t·(c_1 + t·(… + t·c_9))),  t = 1/(1 + z/2),  z ≥ 0
var erfcC = [10]float32{-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
	0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277}

// Constants of geluErf32: 1/√2 and 1/√(2π) rounded to float32.
var (
	invSqrt2   = float32(1 / math.Sqrt2)
	invSqrt2Pi = float32(1 / math.Sqrt(2*math.Pi))
)

// geluErf32 is the exact GELU in float32 (dout nil: out = GELU(inp)) or its
// backward (out += GELU'(inp)·dout). The float32 definition, per element,
// every operation rounded to float32 (no fused multiply-add) and exp32 the
// exponential of gemm.Exp (the same bits with AVX-512, AVX2 or the scalar
// reference):
//
//	z = |x|·(1/√2),  t = 1/(1 + 0.5·z),  h = 0.5·t·exp32(c(t) - z·z)   (= erfc(z)/2, erfcC)
//	Φ = 1 - h if x ≥ 0, else h                                           (no cancellation for x < 0)
//	forward:   out = x·Φ
//	backward:  out = out + (Φ + x·(exp32(-(x·x)·0.5)·(1/√(2π))))·dout
//
// Φ is within 1e-7 of the normal CDF, about a float32 ulp. The
// exponentials run on gemm's SIMD kernels.
//
// Its three elementwise steps around the exponentials (erfcPrep, then
// geluErfOut, or geluErfPhi and geluErfGrad) run on AVX2 where the CPU has
// it, with the bits of their scalar definitions (TestGeluErfAllFloat32:
// every float32 value).
func geluErf32(out, inp, dout []float32) {
	const n0 = 256
	var arg, ex, tt [n0]float32
	for i0 := 0; i0 < len(inp); i0 += n0 {
		n := min(n0, len(inp)-i0)
		x := inp[i0 : i0+n]
		erfcPrep(tt[:n], arg[:n], x)
		gemm.Exp(ex[:n], arg[:n])
		if dout == nil {
			geluErfOut(out[i0:i0+n], x, tt[:n], ex[:n])
			continue
		}
		geluErfPhi(tt[:n], arg[:n], x, ex[:n])
		gemm.Exp(ex[:n], arg[:n])
		geluErfGrad(out[i0:i0+n], x, tt[:n], ex[:n], dout[i0:i0+n])
	}
}

// The SIMD versions of geluErf32's steps, for the first elements of their
// slices (each returns how many: a multiple of the register width), nil
// where the CPU has no such kernel (erfc_amd64.go: AVX2). Each gives the
// bits of its scalar definition (…Ref).
var (
	erfcPrepFast    func(t, arg, x []float32) int
	geluErfOutFast  func(out, x, t, ex []float32) int
	geluErfPhiFast  func(t, arg, x, ex []float32) int
	geluErfGradFast func(out, x, phi, ex, d []float32) int
)

// erfcK are the kernels' constants: the float32 abs mask, 1/√2, 0.5, 1,
// erfcC, the sign mask and 1/√(2π).
var erfcK = [16]float32{math.Float32frombits(0x7fffffff), invSqrt2, 0.5, 1, erfcC[0], erfcC[1], erfcC[2],
	erfcC[3], erfcC[4], erfcC[5], erfcC[6], erfcC[7], erfcC[8], erfcC[9], math.Float32frombits(0x80000000), invSqrt2Pi}

// erfcPrep is geluErf32's first step for each element of x: t and the
// exponential's argument c(t) - z² (erfcPrepRef), on erfcPrepFast where
// there is one.
func erfcPrep(t, arg, x []float32) {
	k := 0
	if erfcPrepFast != nil {
		k = erfcPrepFast(t, arg, x)
	}
	erfcPrepRef(t[k:], arg[k:], x[k:])
}

// erfcPrepRef is the scalar definition of erfcPrep, every operation
// rounded to float32 (the explicit conversions forbid fused
// multiply-adds):
//
//	z = |x|·(1/√2),  t = 1/(1 + 0.5·z),  p = c_0 + t·(c_1 + t·(… + t·c_9)),  arg = p - z·z
func erfcPrepRef(t, arg, x []float32) {
	t, arg = t[:len(x)], arg[:len(x)]
	for k, v := range x {
		z := float32(max(v, -v) * invSqrt2)
		tk := 1 / (1 + float32(0.5*z))
		p := erfcC[9]
		for j := 8; j >= 0; j-- {
			p = erfcC[j] + float32(tk*p)
		}
		t[k] = tk
		arg[k] = p - float32(z*z)
	}
}

// geluErfOut is the forward's last step, out = x·Φ (geluErfOutRef), on
// geluErfOutFast where there is one.
func geluErfOut(out, x, t, ex []float32) {
	k := 0
	if geluErfOutFast != nil {
		k = geluErfOutFast(out, x, t, ex)
	}
	geluErfOutRef(out[k:], x[k:], t[k:], ex[k:])
}

// geluErfOutRef is the scalar definition of geluErfOut:
//
//	h = (0.5·t)·ex,  Φ = 1 - h if x ≥ 0, else h,  out = x·Φ
func geluErfOutRef(out, x, t, ex []float32) {
	out, t, ex = out[:len(x)], t[:len(x)], ex[:len(x)]
	for k, v := range x {
		h := float32(0.5*t[k]) * ex[k]
		phi := h
		if v >= 0 {
			phi = 1 - h
		}
		out[k] = v * phi
	}
}

// geluErfPhi is the backward's second step (geluErfPhiRef), on
// geluErfPhiFast where there is one.
func geluErfPhi(t, arg, x, ex []float32) {
	k := 0
	if geluErfPhiFast != nil {
		k = geluErfPhiFast(t, arg, x, ex)
	}
	geluErfPhiRef(t[k:], arg[k:], x[k:], ex[k:])
}

// geluErfPhiRef is the scalar definition of geluErfPhi: Φ as in
// geluErfOutRef, into t, and the argument of the density's exponential:
//
//	t = Φ,  arg = -((x·x)·0.5)
func geluErfPhiRef(t, arg, x, ex []float32) {
	t, arg, ex = t[:len(x)], arg[:len(x)], ex[:len(x)]
	for k, v := range x {
		h := float32(0.5*t[k]) * ex[k]
		phi := h
		if v >= 0 {
			phi = 1 - h
		}
		t[k] = phi
		arg[k] = -float32(float32(v*v) * 0.5)
	}
}

// geluErfGrad is the backward's last step (geluErfGradRef), on
// geluErfGradFast where there is one.
func geluErfGrad(out, x, phi, ex, d []float32) {
	k := 0
	if geluErfGradFast != nil {
		k = geluErfGradFast(out, x, phi, ex, d)
	}
	geluErfGradRef(out[k:], x[k:], phi[k:], ex[k:], d[k:])
}

// geluErfGradRef is the scalar definition of geluErfGrad:
//
//	out = out + (Φ + x·(ex·(1/√(2π))))·d
func geluErfGradRef(out, x, phi, ex, d []float32) {
	out, phi, ex, d = out[:len(x)], phi[:len(x)], ex[:len(x)], d[:len(x)]
	for k, v := range x {
		g := phi[k] + float32(v*float32(ex[k]*invSqrt2Pi))
		out[k] += float32(g * d[k])
	}
}
