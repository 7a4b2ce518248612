package pref

import (
	"fmt"

	"entangle/pkg/model"
)

// stepState holds Step's buffers.
type stepState[F model.Float] struct {
	before, delta []F
	res           StepResult
}

// Step is one preference step, in its one order:
//
//  1. with d.Attrib: the probes' statistics and gradients at θ (ProbeBefore),
//     which Grad then dots with every training pair's (SetAttribution);
//  2. the batch gradient into dst and the statistics of the batch and its
//     pairs (Grad);
//  3. at dump steps: the probes at θ (again after Grad when the learned
//     gate moved in it, or when step 1 did not run) and the gradient
//     vectors of the probes, then of the training pairs (Dump);
//  4. the update: update(dst) must apply the optimizer to the model's
//     parameters (clipping included);
//  5. at dump steps: Δθ = θ_after − θ_before, the probes after it
//     (ProbeAfter) and the update vector (UpdateVec).
//
// d is nil on steps without a dump. The result's slices are views valid
// until the next Step. An error (a non-finite pair) leaves the parameters
// unchanged when it comes before the update.
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
	}
	if err != nil {
		return nil, err
	}
	if probing {
		if !attrib || s.cfg.Sparse == SparseLearned {
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
	copy(st.before, s.m.Params)
	update(dst)
	for i := range st.delta {
		st.delta[i] = s.m.Params[i] - st.before[i]
	}
	if probing {
		r.Probes = s.ProbeAfter(st.delta)
	}
	if d.Grads {
		r.Grads = append(r.Grads, UpdateVec(st.delta, d.Sketch))
	}
	return r, nil
}
