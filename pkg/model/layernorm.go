package model

import "math"

// lnEps is the LayerNorm epsilon, as in PyTorch's nn.LayerNorm and GPT-2.
const lnEps = 1e-5

// layerNormForward normalizes each row of inp and applies the affine map:
//
//	mean_t = (1/C) Σ_c inp[t,c]
//	rstd_t = 1 / sqrt((1/C) Σ_c (inp[t,c] - mean_t)² + eps)
//	out[t,c] = (inp[t,c] - mean_t) · rstd_t · w[c] + b[c]
//
// out, inp are (T,C); mean, rstd are (T), cached for the backward pass; w, b
// are (C); eps is lnEps (layerNormForwardEps takes another).
func layerNormForward[F Float](out, mean, rstd, inp, w, b []F, T, C int) {
	layerNormForwardEps(out, mean, rstd, inp, w, b, T, C, lnEps)
}

// layerNormForwardEps is layerNormForward with the epsilon eps (a config's
// layer_norm_eps).
func layerNormForwardEps[F Float](out, mean, rstd, inp, w, b []F, T, C int, eps float64) {
	for t := 0; t < T; t++ {
		x := inp[t*C : (t+1)*C] // seek to inp[t,:]
		var m F
		for _, v := range x {
			m += v
		}
		m /= F(C)
		var v2 F
		for _, v := range x {
			d := v - m
			v2 += d * d
		}
		v2 /= F(C)
		s := F(1 / math.Sqrt(float64(v2)+eps))
		o := out[t*C : (t+1)*C]
		for c := range o {
			o[c] = (x[c]-m)*s*w[c] + b[c]
		}
		mean[t] = m
		rstd[t] = s
	}
}

// layerNormBackward accumulates the gradients of layerNormForward.
// With norm = (inp - mean)·rstd and dnorm = w ⊙ dout (per row):
//
//	db[c]     += Σ_t dout[t,c]
//	dw[c]     += Σ_t norm[t,c]·dout[t,c]
//	dinp[t,c] += rstd_t · (dnorm[t,c] - mean_c'(dnorm[t,c']) - norm[t,c]·mean_c'(dnorm[t,c']·norm[t,c']))
//
// dinp, dout, inp are (T,C); dw, db, w are (C); mean, rstd are (T).
func layerNormBackward[F Float](dinp, dw, db, dout, inp, w, mean, rstd []F, T, C int) {
	layerNormBackwardInp(dinp, dout, inp, w, mean, rstd, T, C)
	layerNormBackwardParams(dw, db, dout, inp, mean, rstd, T, C, 0, C)
}

// layerNormBackwardInp is the dinp half of layerNormBackward; rows are independent.
func layerNormBackwardInp[F Float](dinp, dout, inp, w, mean, rstd []F, T, C int) {
	for t := 0; t < T; t++ {
		x := inp[t*C : (t+1)*C]
		g := dout[t*C : (t+1)*C]
		di := dinp[t*C : (t+1)*C]
		m, s := mean[t], rstd[t]
		// in the forward pass this was: out[t,c] = norm[t,c]·w[c] + b[c], norm = (x-m)·s
		var dnormMean, dnormNormMean F
		for c := range g {
			norm := (x[c] - m) * s
			dnorm := w[c] * g[c]
			dnormMean += dnorm
			dnormNormMean += dnorm * norm
		}
		dnormMean /= F(C)
		dnormNormMean /= F(C)
		for c := range g {
			norm := (x[c] - m) * s
			dnorm := w[c] * g[c]
			di[c] += (dnorm - dnormMean - norm*dnormNormMean) * s
		}
	}
}

// layerNormBackwardParams is the dw, db half of layerNormBackward for the
// channels c0..c1-1; each channel sums over t in order.
// The channels go 64 at a time, rows read in order, each channel's sums in
// their own accumulators.
func layerNormBackwardParams[F Float](dw, db, dout, inp, mean, rstd []F, T, C, c0, c1 int) {
	var aw, ab [64]F
	for b0 := c0; b0 < c1; b0 += len(aw) {
		nb := min(len(aw), c1-b0)
		sw, sb := aw[:nb], ab[:nb]
		clear(sw)
		clear(sb)
		for t := 0; t < T; t++ {
			m, r := mean[t], rstd[t]
			g := dout[t*C+b0 : t*C+b0+nb]
			x := inp[t*C+b0 : t*C+b0+nb]
			for j, gj := range g {
				sw[j] += (x[j] - m) * r * gj
				sb[j] += gj
			}
		}
		for j := range sw {
			dw[b0+j] += sw[j]
			db[b0+j] += sb[j]
		}
	}
}
