package gemm

import "math"

// Elementwise float32 kernels for the model's activations: Exp, GELU and
// GELUBackward. Each element is computed by the scalar functions below
// (exp32, gelu32, geluGrad32), whose float32 operation sequence the AVX-512
// and AVX2 kernels (_gen/elementwise.go, _gen/elementwise_avx2.go) perform
// lane by lane, so every implementation gives the same bits. The kernels of
// the active implementation (Impl) run; with "generic" the scalar code does.

// ElementwiseSIMD reports whether Exp, GELU and GELUBackward run on SIMD
// kernels here. Without them the scalar reference runs, which emulates each
// fused multiply-add in software and is slower than float64 math.Exp: callers
// should then prefer their own float64 formulas.
func ElementwiseSIMD() bool { return current().exp != nil }

// Exp sets dst[i] = exp32(src[i]) for i < len(src): e^x within 2 ulps over
// float32's normal range (see exp32). dst and src may be the same slice.
func Exp(dst, src []float32) { current().expSlice(dst, src) }

// expSlice is Exp with ks's kernel (or the scalar reference).
func (ks *kernelSet) expSlice(dst, src []float32) {
	dst = dst[:len(src)]
	if ks.exp != nil && len(src) > 0 {
		ks.exp(&dst[0], &src[0], len(src))
		return
	}
	for i := range src {
		dst[i] = exp32(src[i])
	}
}

// GELU sets out[i] = gelu32(inp[i]), the tanh approximation of GELU.
func GELU(out, inp []float32) { current().geluSlice(out, inp) }

// geluSlice is GELU with ks's kernel (or the scalar reference).
func (ks *kernelSet) geluSlice(out, inp []float32) {
	out = out[:len(inp)]
	if ks.gelu != nil && len(inp) > 0 {
		ks.gelu(&out[0], &inp[0], len(inp))
		return
	}
	for i := range inp {
		out[i] = gelu32(inp[i])
	}
}

// GELUBackward accumulates dinp[i] = fma(geluGrad32(inp[i]), dout[i], dinp[i]).
func GELUBackward(dinp, inp, dout []float32) { current().geluGradSlice(dinp, inp, dout) }

// geluGradSlice is GELUBackward with ks's kernel (or the scalar reference).
func (ks *kernelSet) geluGradSlice(dinp, inp, dout []float32) {
	dinp, dout = dinp[:len(inp)], dout[:len(inp)]
	if ks.geluGrad != nil && len(inp) > 0 {
		ks.geluGrad(&dinp[0], &inp[0], &dout[0], len(inp))
		return
	}
	for i := range inp {
		dinp[i] = fma32(geluGrad32(inp[i]), dout[i], dinp[i])
	}
}

// Constants of exp32: the clamp range, log2(e), ln 2 split in a 9-bit head
// (so that n·ln2Hi is exact for |n| ≤ 2^15) and its float32 tail, and the
// Taylor coefficients 1/k! of e^r, k = 7..0.
var (
	expLo, expHi = float32(-104), float32(89)
	expLog2e     = float32(math.Log2E)
	expLn2Hi     = float32(0.693359375)
	expLn2Lo     = float32(math.Ln2 - 0.693359375)
	expC         = [8]float32{1. / 5040, 1. / 720, 1. / 120, 1. / 24, 1. / 6, 1. / 2, 1, 1}
)

// exp32 is e^x in float32 by Cody-Waite range reduction and a degree-7 Taylor
// polynomial:
//
//	t = clamp(x, -104, 89),  n = roundeven(t·log2 e),  r = (t - n·ln2Hi) - n·ln2Lo  (|r| ≤ 0.35, fused)
//	e^x ≈ 2^n · p(r),  p(r) = Σ_{k≤7} r^k/k!  (Horner with fused multiply-adds)
//
// The truncation error of p is below r^8/8! ≈ 5e-9 relative, so the result is
// within 2 ulps of e^x wherever e^x is a normal float32 (tested against
// math.Exp). The final scaling 2^n·p rounds once (VSCALEFPS on AVX-512, two
// exact-then-rounding multiplies by powers of two on AVX2), so results below
// 2^-126 are correctly rounded denormals of p and e^x underflows to 0 for
// x < -103.97; e^x overflows to +Inf for x > 88.72. exp32(NaN) is NaN,
// exp32(+Inf) = +Inf, exp32(-Inf) = 0.
func exp32(x float32) float32 {
	t := min(max(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(float32(t * expLog2e))))
	r := fma32(-n, expLn2Hi, t)
	r = fma32(-n, expLn2Lo, r)
	p := expC[0]
	for _, c := range expC[1:] {
		p = fma32(p, r, c)
	}
	if p != p {
		return p
	}
	return float32(math.Ldexp(float64(p), int(n)))
}

// GELU's constants in float32: 0.044715 and sqrt(2/π).
var (
	geluA = float32(0.044715)
	geluS = float32(math.Sqrt(2 / math.Pi))
)

// geluCore returns x², x/2, p = 1 + tanh u and q = 1 - tanh u for
// u = sqrt(2/π)·(x + 0.044715·x³), from e = e^{2u} (exp32, with 2u capped at
// 80 so that e stays finite): q = 2/(e+1), p = e·q. Unlike 1 ± tanh, p and q
// keep their relative accuracy when tanh u is near ∓1, where GELU and its
// derivative are differences of nearly equal terms otherwise.
func geluCore(x float32) (x2, hx, p, q float32) {
	x2 = float32(x * x)
	k := fma32(x2, geluA, 1)
	u := min(float32(float32(2*geluS*x)*k), 80)
	e := exp32(u)
	q = 2 / (e + 1)
	return x2, float32(0.5 * x), float32(e * q), q
}

// gelu32 is GELU with the tanh approximation (Hendrycks & Gimpel 2016, as in
// GPT-2 and PyTorch's approximate="tanh"),
//
//	gelu(x) = x/2·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))),
//
// evaluated as x/2·p (geluCore). gelu32(+Inf) = +Inf, gelu32(-Inf) = NaN
// (∞·0), gelu32(NaN) = NaN; every finite x gives a finite result.
func gelu32(x float32) float32 {
	_, hx, p, _ := geluCore(x)
	return float32(hx * p)
}

// geluGrad32 is the derivative of gelu32's formula,
//
//	gelu'(x) = (1 + tanh)/2 + x/2·(1 - tanh²)·sqrt(2/π)·(1 + 3·0.044715·x²),
//
// evaluated at x clamped to [-10, 10] (beyond, gelu' is 0 or 1 to float32
// precision: 1 - tanh² < 1e-37) as fma(x/2·(p·q), sqrt(2/π)·(1 + 3·0.044715·x²), p/2).
// geluGrad32(+Inf) = 1, geluGrad32(-Inf) = gelu'(-10) ≈ -3e-36, geluGrad32(NaN) = NaN.
func geluGrad32(x float32) float32 {
	x2, hx, p, q := geluCore(min(max(x, -10), 10))
	w := float32(hx * float32(p*q))
	k3 := float32(geluS * fma32(x2, 3*geluA, 1))
	return fma32(w, k3, float32(0.5*p))
}
