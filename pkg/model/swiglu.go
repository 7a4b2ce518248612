package model

import "math"

// swigluForward is the gated activation of Llama's MLP, on rows whose first
// F columns are the gate g and the next F the up projection u:
//
//	silu(g) = g·σ(g),  σ(g) = 1/(1+exp(-g))
//	out[t,i] = silu(inp[t,i])·inp[t,F+i]
//
// out is (T,F); inp is (T,2F). Each element is evaluated in float64.
func swigluForward[F Float](out, inp []F, T, FF int) {
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
func swigluBackward[F Float](dinp, inp, dout []F, T, FF int) {
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

// geluErfForward is the exact GELU (PyTorch's default, GPT-NeoX's "gelu"):
//
//	out = 0.5·x·(1 + erf(x/√2))
//
// out, inp are (N); evaluated in float64.
func geluErfForward[F Float](out, inp []F, N int) {
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		out[i] = F(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
	}
}

// geluErfBackward accumulates dinp += GELU'(inp)·dout with
//
//	GELU'(x) = 0.5·(1 + erf(x/√2)) + x·exp(-x²/2)/√(2π)
func geluErfBackward[F Float](dinp, inp, dout []F, N int) {
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		d := 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
		dinp[i] += F(d * float64(dout[i]))
	}
}
