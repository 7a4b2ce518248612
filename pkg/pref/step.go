package pref

import (
	"fmt"

	"entangle/internal/num"
	"entangle/pkg/model"
)

// stepState holds Step's buffers.
type stepState[F model.Float] struct {
	before, delta []F
	res           StepResult
	// attribution of the applied update (Dump.Split)
	pre, hist []float64
	scratch   []F
	pw, pl    [][]F
	split64   []float64
}

// Step is one preference step, in its one order:
//
//  1. with d.Attrib: the probes' statistics and gradients at θ (ProbeBefore),
//     which Grad then dots with every training pair's (SetAttribution);
//  2. the batch gradient into dst and the statistics of the batch and its
//     pairs (Grad); with d.Attrib and d.Split, the attribution of the
//     applied update (attribUpdate: a second pass over the batch);
//  3. at dump steps: the probes at θ (again after Grad when the learned
//     gate moved in it, or when step 1 did not run) and the gradient
//     vectors of the probes, then of the training pairs (Dump);
//  4. the update: update(dst) must apply the optimizer to the model's
//     parameters (clipping included);
//  5. at dump steps: Δθ = θ_after − θ_before, the probes after it
//     (ProbeAfter) and the update vector (UpdateVec).
//
// Probes without attribution, LoRA or the learned gate (the common case)
// keep no gradient vector: step 3's probe statistics are taken after the
// update instead (probesAround), with the model put back at θ_before for
// them, and each probe's g_w, g_l is dotted with Δθ while it is in the
// lane's buffers. The same computations on the same values: the same bits
// as ProbeBefore then ProbeAfter, without their 2·NumParams values per probe.
//
// d is nil on steps without a dump. The result's slices are views valid
// until the next Step. An error (a non-finite pair) leaves the parameters
// unchanged when it comes before the update; a non-finite probe in
// probesAround leaves them at θ_before (the optimizer's state has moved).
func (s *Stepper[F]) Step(dst []F, batch []Pair, d *Dump, update func(dst []F)) (*StepResult, error) {
	r := &s.step.res
	*r = StepResult{Grads: r.Grads[:0]}
	probing := d != nil && len(d.Probes) > 0
	attrib := probing && d.Attrib
	var err error
	if attrib {
		if r.Probes, err = s.ProbeBefore(d.Probes); err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		s.SetAttribution(s.ProbeGrads())
	}
	r.Pairs, r.Batch, err = s.Grad(dst, batch)
	if attrib {
		r.Attrib = s.Attribution()
		s.SetAttribution(nil, nil)
		if err == nil && d.Split != nil {
			r.Pairs, r.Batch, r.Attrib, err = s.attribUpdate(dst, batch, d.Split)
		}
	}
	if err != nil {
		return nil, err
	}
	lean := probing && !attrib && s.lora == nil && s.only == nil && s.cfg.Sparse != SparseLearned
	if probing {
		if !lean && (!attrib || s.cfg.Sparse == SparseLearned) {
			if r.Probes, err = s.ProbeBefore(d.Probes); err != nil {
				return nil, fmt.Errorf("probe: %w", err)
			}
		}
		if d.Grads {
			r.Grads = s.Dump(r.Grads, VecProbe, d.Probes, d.TokenGrads, d.Sketch)
		}
	}
	if d != nil && d.Grads && d.Train {
		r.Grads = s.Dump(r.Grads, VecTrain, batch, 0, d.Sketch)
	}
	if d == nil {
		update(dst)
		return r, nil
	}
	st := &s.step
	if st.before == nil {
		st.before, st.delta = make([]F, s.n), make([]F, s.n)
	}
	copy(st.before, s.params())
	update(dst)
	for i, v := range s.params() {
		st.delta[i] = v - st.before[i]
	}
	switch {
	case lean:
		if r.Probes, err = s.probesAround(d.Probes, st.before, st.delta); err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
	case probing:
		r.Probes = s.ProbeAfter(st.delta)
	}
	if d.Grads {
		r.Grads = append(r.Grads, UpdateVec(st.delta, d.Sketch))
	}
	return r, nil
}

// attribUpdate attributes the update the caller will apply to dst (Step's
// Dump.Split) instead of the raw gradient. split gives the diagonal
// preconditioner P = pre and the history h with Δθ = −P⊙dst + h; since
// dst = (1/B)Σ_i(−cw_i g_w,i + cl_i g_l,i) and P is diagonal,
//
//	⟨g_w^p, Δθ⟩ = Σ_i (cw_i⟨P g_w^p, g_w,i⟩ − cl_i⟨P g_w^p, g_l,i⟩)/B + ⟨g_w^p, h⟩
//
// exactly: the dots are taken with the preconditioned probe gradients
// P⊙g^p (rounded to F), so each pair's share is in units of the probe's
// log-prob change under the step actually taken, and HW = ⟨g_w^p, h⟩,
// HL = ⟨g_l^p, h⟩ is what the batch of this step does not account for
// (Adam's momentum carried over from earlier steps, weight decay). P
// depends on the whole batch (Adam's v), so it is known only after Grad,
// and Grad runs a second time over the same batch with the P⊙g^p probe
// vectors, into a scratch gradient that is discarded; the pairs' statistics
// it returns are those of the first pass (the computation is the same). The
// learned gate moves in Grad, so it is refused (panic: the trainer refuses
// the flags).
func (s *Stepper[F]) attribUpdate(dst []F, batch []Pair, split func(pre, hist, dst []float64)) ([]PairStats, BatchStats, []AttribDots, error) {
	if s.cfg.Sparse == SparseLearned {
		panic("pref: the attribution of the applied update cannot be used with the learned gate")
	}
	st := &s.step
	gw, gl := s.ProbeGrads()
	np := len(gw)
	if st.pre == nil {
		st.pre, st.hist = make([]float64, s.n), make([]float64, s.n)
		st.scratch, st.split64 = make([]F, s.n), make([]float64, s.n)
	}
	for len(st.pw) < np {
		st.pw = append(st.pw, make([]F, s.n))
		st.pl = append(st.pl, make([]F, s.n))
	}
	for j, v := range dst {
		st.split64[j] = float64(v)
	}
	split(st.pre, st.hist, st.split64)
	hw, hl := make([]float64, np), make([]float64, np)
	var out [4]float64
	for k := range np {
		pw, pl := st.pw[k], st.pl[k]
		for j, q := range st.pre {
			pw[j] = F(q * float64(gw[k][j]))
			pl[j] = F(q * float64(gl[k][j]))
		}
		histDots(out[:], gw[k], gl[k], st.hist)
		hw[k], hl[k] = out[0], out[1]
	}
	s.SetAttribution(st.pw[:np], st.pl[:np])
	pairs, bs, err := s.Grad(st.scratch, batch)
	rows := s.Attribution()
	s.SetAttribution(nil, nil)
	for i := range rows {
		rows[i].HW, rows[i].HL = hw[rows[i].Probe], hl[rows[i].Probe]
	}
	return pairs, bs, rows, err
}

// histDots sets out[0], out[1] to ⟨pw, h⟩, ⟨pl, h⟩ in float64: block sums
// in index order added with Neumaier's compensation, as attribDots.
func histDots[F interface{ ~float32 | ~float64 }](out []float64, pw, pl []F, h []float64) {
	var s, c [2]float64
	for off := 0; off < len(h); off += passBlock {
		end := min(off+passBlock, len(h))
		var d0, d1 float64
		for k := off; k < end; k++ {
			d0 += float64(pw[k]) * h[k]
			d1 += float64(pl[k]) * h[k]
		}
		s[0], c[0] = num.Neumaier(s[0], c[0], d0)
		s[1], c[1] = num.Neumaier(s[1], c[1], d1)
	}
	out[0], out[1] = s[0]+c[0], s[1]+c[1]
}
