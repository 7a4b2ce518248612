package pref

import (
	"entangle/pkg/entangle"
	"entangle/pkg/runfmt"
)

// probeState keeps the probe pairs' gradients between ProbeBefore and ProbeAfter.
type probeState[F any] struct {
	pairs  []Pair
	gw, gl [][]F
	rows   []runfmt.PairRow
}

// ProbeBefore evaluates probe pairs at the current parameters (call it
// before the optimizer step): one row per pair, as Grad's rows (kind
// "probe" is set; Step is the caller's), and it keeps each pair's g_w and
// g_l for ProbeAfter. kto_pair's reference point is the probe batch's own.
// Rows are views valid until the next ProbeBefore.
func (s *Stepper[F]) ProbeBefore(probes []Pair) ([]runfmt.PairRow, error) {
	ps := &s.probes
	ps.pairs = append(ps.pairs[:0], probes...)
	for len(ps.gw) < len(probes) {
		ps.gw = append(ps.gw, make([]F, s.n))
		ps.gl = append(ps.gl, make([]F, s.n))
	}
	ps.rows = growRows(ps.rows, len(probes), len(s.ranges), s.m.Cfg.C)
	s.batchKL(probes)
	ln := s.main
	for i := range probes {
		if _, err := s.pairGrads(ln, &probes[i], &ps.rows[i], true); err != nil {
			return nil, err
		}
		ps.rows[i].Kind = "probe"
		copy(ps.gw[i], ln.gw)
		copy(ps.gl[i], ln.gl)
	}
	return ps.rows, nil
}

// ProbeAfter completes the rows of the last ProbeBefore after the update
// delta = θ_after − θ_before has been applied to the model (optimizer and
// clipping included): LogpWAfter, LogpLAfter are the log-probs at the new
// parameters, PredW = ⟨g_w, Δθ⟩ and PredL = ⟨g_l, Δθ⟩ their first-order
// predictions (float64 accumulation in index order).
func (s *Stepper[F]) ProbeAfter(delta []F) []runfmt.PairRow {
	if len(delta) != s.n {
		panic("pref: ProbeAfter: delta must have one value per parameter")
	}
	ps := &s.probes
	ln := s.main
	for i := range ps.pairs {
		p := &ps.pairs[i]
		s.forward(ln, &ln.w, p.Ex.Prompt, p.Ex.Chosen, p.Ex.ChosenContrastive, nil, false)
		s.forward(ln, &ln.l, p.Ex.Prompt, p.Ex.Rejected, p.Ex.RejectedContrastive, nil, true)
		r := &ps.rows[i]
		r.LogpWAfter, r.LogpLAfter = ln.w.z, ln.l.z
		var pw, pl float64
		gw, gl := ps.gw[i], ps.gl[i]
		for k, d := range delta {
			pw += float64(gw[k]) * float64(d)
			pl += float64(gl[k]) * float64(d)
		}
		r.PredW, r.PredL = pw, pl
	}
	return ps.rows
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

// Dump returns gradient rows (grads.arrows) for pairs at the current
// parameters: the sequence gradients g_w ("chosen") and g_l ("rejected")
// of every pair, and, for the first tokenGrads pairs, the per-token
// gradients ∇θ log π(y_t | x, y_<t) of every response token (one backward
// with a one-hot dlogp each; token = index in the response, contrastive
// from the data). kind is "probe" or "train". Vectors are full (sk nil) or
// sketched with sk. Call it before the optimizer step; it allocates its rows.
func (s *Stepper[F]) Dump(step int64, kind string, pairs []Pair, tokenGrads int, sk entangle.Projection) []runfmt.GradRow {
	var rows []runfmt.GradRow
	ln := s.main
	for i := range pairs {
		ex := pairs[i].Ex
		for k, resp := range [][]int32{ex.Chosen, ex.Rejected} {
			sideName, flags, sd := "chosen", ex.ChosenContrastive, &ln.w
			if k == 1 {
				sideName, flags, sd = "rejected", ex.RejectedContrastive, &ln.l
			}
			s.forward(ln, sd, ex.Prompt, resp, flags, nil, k == 1)
			s.backward(ln, ln.gl, sd)
			rows = append(rows, runfmt.GradRow{Step: step, Kind: kind, Pair: ex.ID, Side: sideName, Token: -1, TokenID: -1,
				Contrastive: -1, Grad: vector(ln.gl, sk)})
			if i >= tokenGrads {
				continue
			}
			for t := range resp {
				clear(ln.gl)
				d := ln.dlogp[:len(resp)]
				clear(d)
				d[t] = 1
				ln.ws.Backward(ln.gl, d)
				c := int8(0)
				if flags[t] {
					c = 1
				}
				rows = append(rows, runfmt.GradRow{Step: step, Kind: kind, Pair: ex.ID, Side: sideName, Token: int32(t),
					TokenID: resp[t], Contrastive: c, Grad: vector(ln.gl, sk)})
			}
		}
	}
	return rows
}

// DumpUpdate returns the "update" row of grads.arrows: Δθ (full, or
// sketched with sk).
func DumpUpdate[F interface{ ~float32 | ~float64 }](step int64, delta []F, sk entangle.Projection) runfmt.GradRow {
	return runfmt.GradRow{Step: step, Kind: "update", Pair: -1, Side: "update", Token: -1, TokenID: -1, Contrastive: -1,
		Grad: vector(delta, sk)}
}
