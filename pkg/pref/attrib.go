package pref

import (
	"math"

	"entangle/internal/num"
)

// SetAttribution makes the following Grad calls compute, for every probe p
// (gw[p], gl[p]: its sequence gradients g_w^p, g_l^p, normally ProbeGrads
// of a ProbeBefore at the same parameters) and every training pair i of the
// batch, the four inner products
//
//	ww = ⟨g_w^p, g_w,i⟩,  wl = ⟨g_w^p, g_l,i⟩,  lw = ⟨g_l^p, g_w,i⟩,  ll = ⟨g_l^p, g_l,i⟩
//
// (Attribution). Grad writes dst = (1/B) Σ_i (−cw_i g_w,i + cl_i g_l,i), so
//
//	⟨g_w^p, −dst⟩ = Σ_i (cw_i·ww_i − cl_i·wl_i)/B
//
// exactly: pair i's share of the probe's chosen change along the descent
// direction (under SGD Δθ = −η·dst, so Δlog π_w(p) ≈ η Σ_i of it; under
// AdamW the step is preconditioned and this attributes the raw gradient
// direction, not Δθ: Step with Dump.Split attributes Δθ itself). The dots are computed in the pair's pass while its
// gradients are in the lane's buffers, in float64 with the same fixed-order
// blocked sums for any number of lanes. The slices are kept (not copied):
// they must not change until SetAttribution(nil, nil), which restores the
// default path (no extra cost). It panics unless gw and gl have the same
// number of vectors of NumParams values.
func (s *Stepper[F]) SetAttribution(gw, gl [][]F) {
	if len(gw) != len(gl) {
		panic("pref: SetAttribution: gw and gl must have one vector per probe")
	}
	for k := range gw {
		if len(gw[k]) != s.n || len(gl[k]) != s.n {
			panic("pref: SetAttribution: probe gradients must have one value per parameter")
		}
	}
	s.agw, s.agl = gw, gl
	s.arows = s.arows[:0]
}

// ProbeGrads returns the probe gradients g_w^p, g_l^p kept by the last
// ProbeBefore, one vector per probe pair (views, valid until the next
// ProbeBefore).
func (s *Stepper[F]) ProbeGrads() (gw, gl [][]F) {
	n := len(s.probes.pairs)
	if len(s.probes.gw) < n { // the last probes kept none (Step's lean probes)
		return nil, nil
	}
	return s.probes.gw[:n], s.probes.gl[:n]
}

// Attribution returns the attribution dots of the last Grad under
// SetAttribution: one per (probe, training pair), probe-major, with Probe
// the probe's index in the SetAttribution slices, Pair the training pair's
// id, CW, CL the step's coefficients and Batch = B. Views valid until the next Grad; nil
// without attribution.
func (s *Stepper[F]) Attribution() []AttribDots {
	if len(s.agw) == 0 {
		return nil
	}
	return s.arows
}

// attribRows fills s.arows from s.adots and the pairs' statistics after Grad.
func (s *Stepper[F]) attribRows(batch []Pair) {
	np := len(s.agw)
	if np == 0 {
		return
	}
	B := len(batch)
	s.arows = s.arows[:0]
	for k := range np {
		for i := range batch {
			d := s.adots[4*(i*np+k):]
			row := &s.rows[i]
			s.arows = append(s.arows, AttribDots{Probe: k, Pair: row.Pair,
				WW: d[0], WL: d[1], LW: d[2], LL: d[3], CW: row.CW, CL: row.CL, Batch: B,
				HW: math.NaN(), HL: math.NaN()})
		}
	}
}

// attribDots sets out[0:4] to ⟨pw,gw⟩, ⟨pw,gl⟩, ⟨pl,gw⟩, ⟨pl,gl⟩ in float64
// (products of float32 values are exact): partial sums over blocks of
// passBlock elements, in index order, added with Neumaier's compensation.
// The result depends only on the inputs.
func attribDots[F interface{ ~float32 | ~float64 }](out []float64, pw, pl, gw, gl []F) {
	var s, c [4]float64
	n := len(gw)
	for off := 0; off < n; off += passBlock {
		end := min(off+passBlock, n)
		a, b, x, y := pw[off:end], pl[off:end], gw[off:end], gl[off:end]
		b, x, y = b[:len(a)], x[:len(a)], y[:len(a)]
		var d0, d1, d2, d3 float64
		for k, ak := range a {
			af, bf, xf, yf := float64(ak), float64(b[k]), float64(x[k]), float64(y[k])
			d0 += af * xf
			d1 += af * yf
			d2 += bf * xf
			d3 += bf * yf
		}
		for j, d := range [4]float64{d0, d1, d2, d3} {
			s[j], c[j] = num.Neumaier(s[j], c[j], d)
		}
	}
	for j := range 4 {
		out[j] = s[j] + c[j]
	}
}
