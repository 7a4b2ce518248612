package pref

import (
	"entangle/pkg/entangle"
)

// probeState keeps the probe pairs' gradients between ProbeBefore and ProbeAfter.
type probeState[F any] struct {
	pairs  []Pair
	gw, gl [][]F
	rows   []PairStats
}

// ProbeBefore evaluates probe pairs at the current parameters (call it
// before the optimizer step): one PairStats per pair, as Grad's, and it
// keeps each pair's g_w and g_l for ProbeAfter. kto_pair's reference point
// is the probe batch's own. The statistics are views valid until the next
// ProbeBefore.
func (s *Stepper[F]) ProbeBefore(probes []Pair) ([]PairStats, error) {
	ps := &s.probes
	ps.pairs = append(ps.pairs[:0], probes...)
	for len(ps.gw) < len(probes) {
		ps.gw = append(ps.gw, make([]F, s.n))
		ps.gl = append(ps.gl, make([]F, s.n))
	}
	ps.rows = growRows(ps.rows, len(probes), s.numGroups(), s.m.Cfg.C)
	s.batchKL(probes)
	ln := s.main
	for i := range probes {
		if _, err := s.pairGrads(ln, &probes[i], &ps.rows[i], true); err != nil {
			return nil, err
		}
		copy(ps.gw[i], ln.gw)
		copy(ps.gl[i], ln.gl)
	}
	return ps.rows, nil
}

// ProbeAfter completes the statistics of the last ProbeBefore after the
// update delta = θ_after − θ_before has been applied to the model (optimizer
// and clipping included): LogpWAfter, LogpLAfter are the log-probs at the
// new parameters, PredW = ⟨g_w, Δθ⟩ and PredL = ⟨g_l, Δθ⟩ their first-order
// predictions (float64 accumulation in index order).
func (s *Stepper[F]) ProbeAfter(delta []F) []PairStats {
	if len(delta) != s.n {
		panic("pref: ProbeAfter: delta must have one value per parameter")
	}
	ps := &s.probes
	ln := s.main
	for i := range ps.pairs {
		s.forwardPair(ln, &ps.pairs[i])
		r := &ps.rows[i]
		r.LogpWAfter, r.LogpLAfter = ln.w.z, ln.l.z
		r.PredW, r.PredL = dotDelta(ps.gw[i], delta), dotDelta(ps.gl[i], delta)
	}
	return ps.rows
}

// probesAround is ProbeBefore then ProbeAfter(delta) for a model already at
// θ_after = θ_before + delta, with before holding θ_before (Step's lean
// probes): the model is put back at θ_before (swapping values with before,
// which then holds θ_after), each probe's statistics and gradients are
// computed there and its PredW, PredL taken at once from the lane's g_w,
// g_l, then θ_after is restored for the log-probs after. No gradient is
// kept (ProbeGrads is then empty). On an error the model stays at θ_before.
func (s *Stepper[F]) probesAround(probes []Pair, before, delta []F) ([]PairStats, error) {
	ps := &s.probes
	ps.pairs = append(ps.pairs[:0], probes...)
	ps.gw, ps.gl = nil, nil // none kept
	ps.rows = growRows(ps.rows, len(probes), s.numGroups(), s.m.Cfg.C)
	swapValues(s.m.Params, before)
	s.batchKL(probes)
	ln := s.main
	for i := range probes {
		if _, err := s.pairGrads(ln, &probes[i], &ps.rows[i], true); err != nil {
			return nil, err
		}
		r := &ps.rows[i]
		r.PredW, r.PredL = dotDelta(ln.gw, delta), dotDelta(ln.gl, delta)
	}
	swapValues(s.m.Params, before)
	for i := range ps.pairs {
		s.forwardPair(ln, &ps.pairs[i])
		r := &ps.rows[i]
		r.LogpWAfter, r.LogpLAfter = ln.w.z, ln.l.z
	}
	return ps.rows, nil
}

// dotDelta returns ⟨g, delta⟩ accumulated in float64 in index order (as
// ProbeAfter).
func dotDelta[F interface{ ~float32 | ~float64 }](g, delta []F) float64 {
	var p float64
	for k, d := range delta {
		p += float64(g[k]) * float64(d)
	}
	return p
}

// swapValues exchanges the values of a and b (the model's views of its
// parameters stay valid).
func swapValues[F any](a, b []F) {
	for i := range a {
		a[i], b[i] = b[i], a[i]
	}
}

// vector returns v as float32, projected by sk when sk is not nil. The
// result is newly allocated (dumps are rare).
func vector[F interface{ ~float32 | ~float64 }](v []F, sk entangle.Projection) []float32 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	if sk == nil {
		return f
	}
	out := make([]float32, sk.K())
	sk.Project(out, f)
	return out
}

// Dump appends to dst the gradient vectors of pairs at the current
// parameters: the sequence gradients g_w and g_l of every pair, and, for the
// first tokenGrads pairs, the per-token gradients ∇θ log π(y_t | x, y_<t) of
// every response token (one backward with a one-hot dlogp each;
// contrastive from the data), each vector followed by its pair's token
// vectors. Vectors are full (sk nil) or sketched with sk, and newly
// allocated. Call it before the optimizer step.
func (s *Stepper[F]) Dump(dst []GradVec, of VecOf, pairs []Pair, tokenGrads int, sk entangle.Projection) []GradVec {
	ln := s.main
	for i := range pairs {
		ex := pairs[i].Ex
		for k, resp := range [][]int32{ex.Chosen, ex.Rejected} {
			side, flags, sd := SideW, ex.ChosenContrastive, &ln.w
			if k == 1 {
				side, flags, sd = SideL, ex.RejectedContrastive, &ln.l
			}
			s.forward(ln, sd, ex.Prompt, resp, flags, nil, side == SideL)
			s.backward(ln, ln.gl, sd)
			dst = append(dst, GradVec{Of: of, Pair: ex.ID, Side: side, Token: -1, TokenID: -1,
				Contrastive: -1, Grad: vector(ln.gl, sk)})
			if i >= tokenGrads {
				continue
			}
			for t := range resp {
				clear(ln.gl)
				d := ln.dlogp[:len(resp)]
				clear(d)
				d[t] = 1
				s.backwardSet(ln, ln.gl, d)
				c := int8(0)
				if flags[t] {
					c = 1
				}
				dst = append(dst, GradVec{Of: of, Pair: ex.ID, Side: side, Token: int32(t),
					TokenID: resp[t], Contrastive: c, Grad: vector(ln.gl, sk)})
			}
		}
	}
	return dst
}

// UpdateVec returns the update Δθ as a gradient vector (full, or sketched
// with sk).
func UpdateVec[F interface{ ~float32 | ~float64 }](delta []F, sk entangle.Projection) GradVec {
	return GradVec{Of: VecUpdate, Pair: -1, Token: -1, TokenID: -1, Contrastive: -1, Grad: vector(delta, sk)}
}
