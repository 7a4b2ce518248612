package model

import (
	"math"
	"unsafe"

	"entangle/internal/gemm"
)

// geluScale is sqrt(2/π), the constant of GPT-2's tanh approximation of GELU.
var geluScale = math.Sqrt(2 / math.Pi)

// geluForward applies GELU with the tanh approximation (Hendrycks & Gimpel 2016,
// as in GPT-2 and PyTorch's approximate="tanh"):
//
//	out = 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))
//
// out, inp are (N), N = T·4C in the model.
//
// float32 uses gemm.GELU (float32 arithmetic, the same bits on every CPU with
// AVX2 and FMA, with or without AVX-512) where gemm has SIMD kernels for it;
// otherwise, and for float64, the formula is evaluated in float64.
func geluForward[F Float](out, inp []F, N int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		gemm.GELU(as32(out)[:N], as32(inp)[:N])
		return
	}
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		out[i] = F(0.5 * x * (1 + tanh(geluScale*(x+0.044715*x*x*x))))
	}
}

// geluBackward accumulates dinp += GELU'(inp)·dout, with
//
//	u = sqrt(2/π)·(x + 0.044715·x³)
//	GELU'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh² u)·sqrt(2/π)·(1 + 3·0.044715·x²)
//
// dinp, dout, inp are (N).
//
// float32 uses gemm.GELUBackward where gemm has SIMD kernels for it; otherwise,
// and for float64, the formula is evaluated in float64.
func geluBackward[F Float](dinp, inp, dout []F, N int) {
	if unsafe.Sizeof(F(0)) == 4 && gemm.ElementwiseSIMD() {
		gemm.GELUBackward(as32(dinp)[:N], as32(inp)[:N], as32(dout)[:N])
		return
	}
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		th := tanh(geluScale * (x + 0.044715*x*x*x))
		d := 0.5*(1+th) + 0.5*x*(1-th*th)*geluScale*(1+3*0.044715*x*x)
		dinp[i] += F(d * float64(dout[i]))
	}
}

// tanh is 1 - 2/(exp(2u)+1), about 3× faster than math.Tanh. Its absolute error
// is ~1e-16 (relative error grows as u → 0, but GELU only uses 1 + tanh and
// 1 - tanh², where absolute error is what counts); exp overflow gives exactly ±1.
func tanh(u float64) float64 {
	return 1 - 2/(math.Exp(2*u)+1)
}
