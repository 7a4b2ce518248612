package model

import "math"

// Rotary position embeddings (RoPE, Su et al. 2021) in the "rotate half"
// convention of GPT-NeoX and Llama: the first D dims of each query and key
// head (D = Config.RotaryDims, even) form D/2 pairs (i, i+D/2), and the pair
// at position t turns by the angle t·f_i; the other hs-D dims pass through.

// ropeInvFreq returns the D/2 frequencies of cfg's rotary embedding:
//
//	f_i = θ^(-2i/D),  i = 0..D/2-1,  θ = Config.RopeBase()
//
// With Llama-3 scaling (RopeFactor s > 0, low/high frequency factors lo, hi,
// original context N), per wavelength λ_i = 2π/f_i:
//
//	λ_i > N/lo:           f_i / s                      (long wavelengths are slowed)
//	λ_i < N/hi:           f_i                          (short ones kept)
//	otherwise:            (1-a)·f_i/s + a·f_i,   a = (N/λ_i - lo)/(hi - lo)
func ropeInvFreq(cfg Config) []float64 {
	D := cfg.RotaryDims()
	f := make([]float64, D/2)
	for i := range f {
		f[i] = 1 / math.Pow(cfg.RopeBase(), float64(2*i)/float64(D))
	}
	if s := cfg.RopeFactor; s != 0 {
		N, lo, hi := float64(cfg.RopeOrigCtx), cfg.RopeLowFreq, cfg.RopeHighFreq
		for i, fi := range f {
			switch lam := 2 * math.Pi / fi; {
			case lam > N/lo:
				f[i] = fi / s
			case lam < N/hi:
			default:
				a := (N/lam - lo) / (hi - lo)
				f[i] = (1-a)*fi/s + a*fi
			}
		}
	}
	return f
}

// ropeTables fills cos[t·D/2+i] = cos(t·f_i) and sin[t·D/2+i] = sin(t·f_i)
// for positions t = 0..T-1 (the angles in float64, then rounded to F).
func ropeTables[F Float](cos, sin []F, invFreq []float64, T int) {
	D2 := len(invFreq)
	for t := 0; t < T; t++ {
		for i, f := range invFreq {
			a := float64(t) * f
			cos[t*D2+i], sin[t*D2+i] = F(math.Cos(a)), F(math.Sin(a))
		}
	}
}

// ropeForward rotates, in place, the first D = 2·D2 dims of nh heads of
// rows t0..T-1 of x, a head's dims starting at column off + h·hs of a row of
// width W:
//
//	x1, x2 = x[t, j+i], x[t, j+i+D2]         (j = off + h·hs, i < D2)
//	x[t, j+i]    = x1·cos(t·f_i) - x2·sin(t·f_i)
//	x[t, j+i+D2] = x2·cos(t·f_i) + x1·sin(t·f_i)
//
// The model calls it on the q and k parts of the fused qkv rows.
func ropeForward[F Float](x, cos, sin []F, t0, T, W, off, nh, hs, D2 int) {
	for t := t0; t < T; t++ {
		c, s := cos[t*D2:(t+1)*D2], sin[t*D2:(t+1)*D2]
		for h := 0; h < nh; h++ {
			a := x[t*W+off+h*hs : t*W+off+h*hs+2*D2]
			for i := 0; i < D2; i++ {
				x1, x2 := a[i], a[i+D2]
				a[i] = x1*c[i] - x2*s[i]
				a[i+D2] = x2*c[i] + x1*s[i]
			}
		}
	}
}

// ropeBackward turns the gradient of ropeForward's output into the gradient
// of its input, in place (the rotation's transpose, a turn by -t·f_i):
//
//	g1, g2 = dx[t, j+i], dx[t, j+i+D2]
//	dx[t, j+i]    = g1·cos(t·f_i) + g2·sin(t·f_i)
//	dx[t, j+i+D2] = g2·cos(t·f_i) - g1·sin(t·f_i)
func ropeBackward[F Float](dx, cos, sin []F, t0, T, W, off, nh, hs, D2 int) {
	for t := t0; t < T; t++ {
		c, s := cos[t*D2:(t+1)*D2], sin[t*D2:(t+1)*D2]
		for h := 0; h < nh; h++ {
			a := dx[t*W+off+h*hs : t*W+off+h*hs+2*D2]
			for i := 0; i < D2; i++ {
				g1, g2 := a[i], a[i+D2]
				a[i] = g1*c[i] + g2*s[i]
				a[i+D2] = g2*c[i] - g1*s[i]
			}
		}
	}
}
