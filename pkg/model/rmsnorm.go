package model

import "math"

// rmsNormForward normalizes each row of inp by its root mean square and
// scales it (Llama's RMSNorm, no mean subtraction and no bias):
//
//	rstd_t = 1 / sqrt((1/C) Σ_c inp[t,c]² + eps)
//	out[t,c] = inp[t,c] · rstd_t · w[c]
//
// out, inp are (T,C); rstd is (T), cached for the backward pass; w is (C).
// The model runs it in its own float type (transformers computes it in
// float32 for half-precision weights; the model is float32 throughout).
func rmsNormForward[F Float](out, rstd, inp, w []F, T, C int, eps float64) {
	for t := 0; t < T; t++ {
		x := inp[t*C : (t+1)*C] // seek to inp[t,:]
		var ss F
		for _, v := range x {
			ss += v * v
		}
		ss /= F(C)
		s := F(1 / math.Sqrt(float64(ss)+eps))
		o := out[t*C : (t+1)*C]
		for c := range o {
			o[c] = x[c] * s * w[c]
		}
		rstd[t] = s
	}
}

// rmsNormBackward accumulates the gradients of rmsNormForward. With
// norm = inp·rstd and dnorm = w ⊙ dout (per row):
//
//	dw[c]     += Σ_t norm[t,c]·dout[t,c]
//	dinp[t,c] += rstd_t · (dnorm[t,c] - norm[t,c]·mean_c'(dnorm[t,c']·norm[t,c']))
//
// dinp, dout, inp are (T,C); dw, w are (C); rstd is (T).
func rmsNormBackward[F Float](dinp, dw, dout, inp, w, rstd []F, T, C int) {
	rmsNormBackwardInp(dinp, dout, inp, w, rstd, T, C)
	rmsNormBackwardParams(dw, dout, inp, rstd, T, C, 0, C)
}

// rmsNormBackwardInp is the dinp half of rmsNormBackward; rows are independent.
func rmsNormBackwardInp[F Float](dinp, dout, inp, w, rstd []F, T, C int) {
	for t := 0; t < T; t++ {
		x := inp[t*C : (t+1)*C]
		g := dout[t*C : (t+1)*C]
		di := dinp[t*C : (t+1)*C]
		s := rstd[t]
		var dnormNormMean F
		for c := range g {
			dnormNormMean += w[c] * g[c] * x[c] * s
		}
		dnormNormMean /= F(C)
		for c := range g {
			di[c] += (w[c]*g[c] - x[c]*s*dnormNormMean) * s
		}
	}
}

// rmsNormBackwardParams is the dw half of rmsNormBackward for the channels
// c0..c1-1; each channel sums over t in order.
func rmsNormBackwardParams[F Float](dw, dout, inp, rstd []F, T, C, c0, c1 int) {
	for c := c0; c < c1; c++ {
		var s F
		for t := 0; t < T; t++ {
			s += inp[t*C+c] * rstd[t] * dout[t*C+c]
		}
		dw[c] += s
	}
}
