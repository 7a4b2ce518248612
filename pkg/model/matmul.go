package model

import (
	"unsafe"

	"entangle/internal/gemm"

	"gonum.org/v1/gonum/blas"
)

// matmulForwardNaive is the reference matrix multiplication, kept as the test
// oracle for the fast path (llm.c's matmul_forward_naive):
//
//	out[t,o] = b[o] + Σ_c inp[t,c]·w[o,c]      (out = inp·wᵀ + b)
//
// out is (T,OC); inp is (T,C); w is (OC,C) like PyTorch's Linear; b is (OC) or nil.
func matmulForwardNaive[F Float](out, inp, w, b []F, T, C, OC int) {
	for t := 0; t < T; t++ {
		x := inp[t*C : (t+1)*C]
		for o := 0; o < OC; o++ {
			var s F
			if b != nil {
				s = b[o]
			}
			wr := w[o*C : (o+1)*C]
			for c, v := range x {
				s += v * wr[c]
			}
			out[t*OC+o] = s
		}
	}
}

// matmulBackwardNaive is the reference backward of matmulForwardNaive:
//
//	dinp[t,c] += Σ_o dout[t,o]·w[o,c]     (dinp += dout·w)
//	dw[o,c]   += Σ_t dout[t,o]·inp[t,c]   (dw += doutᵀ·inp)
//	db[o]     += Σ_t dout[t,o]
//
// db may be nil when the layer has no bias.
func matmulBackwardNaive[F Float](dinp, dw, db, dout, inp, w []F, T, C, OC int) {
	for t := 0; t < T; t++ {
		g := dout[t*OC : (t+1)*OC]
		di := dinp[t*C : (t+1)*C]
		for o, d := range g {
			wr := w[o*C : (o+1)*C]
			for c := range di {
				di[c] += d * wr[c]
			}
		}
	}
	for o := 0; o < OC; o++ {
		dwr := dw[o*C : (o+1)*C]
		var sb F
		for t := 0; t < T; t++ {
			d := dout[t*OC+o]
			sb += d
			x := inp[t*C : (t+1)*C]
			for c := range dwr {
				dwr[c] += d * x[c]
			}
		}
		if db != nil {
			db[o] += sb
		}
	}
}

// matmulForward computes out = inp·wᵀ + b (see matmulForwardNaive) for rows t
// of out. float32 uses internal/gemm's SIMD kernels; float64 uses the naive loop.
// Each out[t,o] is b[o] + dot(inp[t,:], w[o,:]) whatever the tiling, so the result
// does not depend on how rows are split between goroutines.
func matmulForward[F Float](out, inp, w, b []F, T, C, OC int) {
	if unsafe.Sizeof(F(0)) != 4 {
		matmulForwardNaive(out, inp, w, b, T, C, OC)
		return
	}
	o32, i32, w32, b32 := as32(out), as32(inp), as32(w), as32(b)
	if b32 == nil {
		// out (T,OC) = inp (T,C) · wᵀ (C,OC), without a pass clearing out first
		gemm.NTSet(o32, OC, i32, C, w32, C, T, OC, C)
		return
	}
	for t := 0; t < T; t++ {
		copy(o32[t*OC:(t+1)*OC], b32)
	}
	// out (T,OC) += inp (T,C) · wᵀ (C,OC)
	gemmTiled(blas.NoTrans, blas.Trans, T, OC, C, i32, C, w32, C, o32, OC)
}

// matmulBackwardInp accumulates dinp[t,c] += Σ_o dout[t,o]·w[o,c] for T rows.
func matmulBackwardInp[F Float](dinp, dout, w []F, T, C, OC int) {
	if unsafe.Sizeof(F(0)) != 4 {
		for t := 0; t < T; t++ {
			g := dout[t*OC : (t+1)*OC]
			di := dinp[t*C : (t+1)*C]
			for o, d := range g {
				wr := w[o*C : (o+1)*C]
				for c := range di {
					di[c] += d * wr[c]
				}
			}
		}
		return
	}
	// dinp (T,C) += dout (T,OC) · w (OC,C)
	gemmTiled(blas.NoTrans, blas.NoTrans, T, C, OC, as32(dout), OC, as32(w), C, as32(dinp), C)
}

// matmulBackwardParams accumulates dw[o,c] += Σ_t dout[t,o]·inp[t,c] and
// db[o] += Σ_t dout[t,o] for the output rows o0..o1-1. db may be nil. With
// set it overwrites those rows instead (dw[o,c] = Σ_t …, db[o] = Σ_t …):
// the bits of clearing them and accumulating, without reading them (gemm's
// TNSet and ColSumSet).
func matmulBackwardParams[F Float](dw, db, dout, inp []F, T, C, OC, o0, o1 int, set bool) {
	if db != nil && unsafe.Sizeof(F(0)) == 4 {
		// db[o] += Σ_t dout[t,o], as below (SIMD, the same bits)
		if set {
			gemm.ColSumSet(as32(db)[o0:o1], as32(dout)[o0:], OC, T, o1-o0)
		} else {
			gemm.ColSum(as32(db)[o0:o1], as32(dout)[o0:], OC, T, o1-o0)
		}
	} else if db != nil {
		// db[o] += Σ_t dout[t,o], each sum in increasing t in its own
		// accumulator, 64 outputs at a time so that dout is read by rows
		var s [64]F
		for c0 := o0; c0 < o1; c0 += len(s) {
			acc := s[:min(len(s), o1-c0)]
			clear(acc)
			for t := 0; t < T; t++ {
				row := dout[t*OC+c0 : t*OC+c0+len(acc)]
				for j, v := range row {
					acc[j] += v
				}
			}
			if set {
				clear(db[c0 : c0+len(acc)])
			}
			for j, v := range acc {
				db[c0+j] += v
			}
		}
	}
	if unsafe.Sizeof(F(0)) != 4 {
		if set {
			clear(dw[o0*C : o1*C])
		}
		for o := o0; o < o1; o++ {
			dwr := dw[o*C : (o+1)*C]
			for t := 0; t < T; t++ {
				d := dout[t*OC+o]
				x := inp[t*C : (t+1)*C]
				for c := range dwr {
					dwr[c] += d * x[c]
				}
			}
		}
		return
	}
	// dw[o0:o1] (o1-o0,C) += dout[:,o0:o1]ᵀ (o1-o0,T) · inp (T,C)
	if set {
		gemm.TNSet(as32(dw)[o0*C:], C, as32(dout)[o0:], OC, as32(inp), C, o1-o0, C, T)
		return
	}
	gemmTiled(blas.Trans, blas.NoTrans, o1-o0, C, T, as32(dout)[o0:], OC, as32(inp), C, as32(dw)[o0*C:], C)
}

// matmulBackward accumulates all three gradients of matmulForward (see
// matmulBackwardNaive for the formulas), serially.
func matmulBackward[F Float](dinp, dw, db, dout, inp, w []F, T, C, OC int) {
	matmulBackwardInp(dinp, dout, w, T, C, OC)
	matmulBackwardParams(dw, db, dout, inp, T, C, OC, 0, OC, false)
}

// gemmTiled computes c (m,n) += op(a) (m,k) · op(b) (k,n) in float32 with the
// SIMD kernels of internal/gemm (serial; callers split the rows of c between
// goroutines). Every c[i,j] accumulates its k products in increasing order with
// fused multiply-adds in one float32 accumulator, so its bits depend neither on
// the row split nor on the CPU's kernel (gemm's determinism contract).
func gemmTiled(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	switch {
	case tA == blas.NoTrans && tB == blas.Trans:
		gemm.NT(c, ldc, a, lda, b, ldb, m, n, k)
	case tA == blas.NoTrans && tB == blas.NoTrans:
		gemm.NN(c, ldc, a, lda, b, ldb, m, n, k)
	case tA == blas.Trans && tB == blas.NoTrans:
		gemm.TN(c, ldc, a, lda, b, ldb, m, n, k)
	default:
		panic("model: gemmTiled: op(a)ᵀ·op(b)ᵀ is not used")
	}
}

// as32 reinterprets a []F whose element size is 4 bytes (so F's underlying
// type is float32) as []float32, without copying.
func as32[F Float](x []F) []float32 {
	if x == nil {
		return nil
	}
	if len(x) == 0 {
		return []float32{}
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&x[0])), len(x))
}
