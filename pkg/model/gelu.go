package model

import "math"

// geluScale is sqrt(2/π), the constant of GPT-2's tanh approximation of GELU.
var geluScale = math.Sqrt(2 / math.Pi)

// geluForward applies GELU with the tanh approximation (Hendrycks & Gimpel 2016,
// as in GPT-2 and PyTorch's approximate="tanh"):
//
//	out = 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))
//
// out, inp are (N), N = T·4C in the model.
func geluForward[F Float](out, inp []F, N int) {
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		out[i] = F(0.5 * x * (1 + math.Tanh(geluScale*(x+0.044715*x*x*x))))
	}
}

// geluBackward accumulates dinp += GELU'(inp)·dout, with
//
//	u = sqrt(2/π)·(x + 0.044715·x³)
//	GELU'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh² u)·sqrt(2/π)·(1 + 3·0.044715·x²)
//
// dinp, dout, inp are (N).
func geluBackward[F Float](dinp, inp, dout []F, N int) {
	for i := 0; i < N; i++ {
		x := float64(inp[i])
		th := math.Tanh(geluScale * (x + 0.044715*x*x*x))
		d := 0.5*(1+th) + 0.5*x*(1-th*th)*geluScale*(1+3*0.044715*x*x)
		dinp[i] += F(d * float64(dout[i]))
	}
}
