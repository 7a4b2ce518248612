package pref

import (
	"entangle/pkg/entangle"
	"entangle/pkg/model"
)

// LoRA statistics. With SetLoRA the Stepper also measures every pair with
// respect to the adapter parameters (the setting of LoRA fine-tuning): from
// the pair's full gradients g_w, g_l taken at the merged weights it forms
// the adapter gradients a_w = P(g_w), a_l = P(g_l) (model.LoRA.Grad: per
// site dA = s·Bᵀ·G, dB = s·G·Aᵀ) and appends their inner products and
// squared norms, per adapter tensor, to the pair's group vectors
// (PairStats.DotG, WWG, LLG) after the model's groups. The totals Dot, WW,
// LL stay those of all model parameters; the adapter totals are the sums of
// the appended groups. The batch gradient dst stays the full one: the
// adapter gradient of the batch is P(dst) (P is linear), which the trainer
// forms for its optimizer.

// Adapter-only mode. With SetLoRAOnly the Stepper works in the adapters'
// parameter space (the authors' setting, without the all-parameter
// statistics): every backward is model.LoRA.BackwardSet, which forms no
// gradient of a base weight, so g_w, g_l, the groups (the adapter tensors),
// the totals, dst of Grad and Step and the probes' and dumps' vectors are
// all of length len(a.Params), and Step's update must change a.Params (and
// merge them). Per pair and step this saves the weight-gradient products of
// every frozen projection and the LM head (about a third of the step's
// FLOPs) and the statistics' passes over all parameters.

// SetLoRA makes the Stepper measure the adapters a too (nil: no more). a
// must adapt the Stepper's model. It ends the adapter-only mode.
func (s *Stepper[F]) SetLoRA(a *model.LoRA[F]) {
	if s.only != nil {
		s.space(nil)
	}
	s.lora = a
	s.loraGroups = nil
	s.rows, s.probes.rows = nil, nil // the group vectors change length
	if a != nil {
		s.loraGroups = LoRAGroups(a)
	}
}

// LoRAGroups returns the adapter groups of a: its tensors as ranges of the
// adapter vector (a.Params).
func LoRAGroups[F model.Float](a *model.LoRA[F]) []entangle.Range {
	var gs []entangle.Range
	for _, t := range a.Tensors() {
		gs = append(gs, entangle.Range{Name: t.Name, Off: t.Offset, Len: t.Size})
	}
	return gs
}

// numGroups is the length of the pairs' group vectors.
func (s *Stepper[F]) numGroups() int { return len(s.groups) + len(s.loraGroups) }

// loraDots sets ln.agd to the adapter groups' dots of the lane's pair.
func (s *Stepper[F]) loraDots(ln *lane[F]) {
	if s.lora == nil {
		return
	}
	if len(ln.aw) != len(s.lora.Params) {
		ln.aw, ln.al = make([]F, len(s.lora.Params)), make([]F, len(s.lora.Params))
	}
	if len(ln.agd) != len(s.loraGroups) {
		ln.agd = make([]entangle.GroupDot, len(s.loraGroups))
	}
	s.lora.Grad(ln.aw, ln.gw)
	s.lora.Grad(ln.al, ln.gl)
	pairPass(nil, nil, nil, ln.aw, ln.al, 0, 0, s.loraGroups, ln.agd, true, ln.acc)
}

// SetLoRAOnly makes the Stepper work with respect to the adapters a only
// (see above); nil returns to all parameters. a must adapt the Stepper's
// model, with merged weights.
func (s *Stepper[F]) SetLoRAOnly(a *model.LoRA[F]) {
	s.SetLoRA(nil)
	s.space(a)
}

// space sets the parameter space of the Stepper: the adapters a, or all
// model parameters (nil), with the buffers of that length.
func (s *Stepper[F]) space(a *model.LoRA[F]) {
	s.only = a
	s.n, s.groups = len(s.m.Params), Groups(s.m.Cfg)
	if a != nil {
		s.n, s.groups = len(a.Params), LoRAGroups(a)
	}
	s.sw, s.sl = nil, nil // the first Grad allocates them
	s.main = newLane(s.m, s.main.ws, make([]F, s.n), make([]F, s.n), len(s.groups), nil)
	s.zbOK = false
	s.lanes = nil
	s.rows, s.probes = nil, probeState[F]{}
	s.step = stepState[F]{}
}

// params is the parameter vector of the Stepper's space.
func (s *Stepper[F]) params() []F {
	if s.only != nil {
		return s.only.Params
	}
	return s.m.Params
}

// backwardSet sets g to the gradient of Σ_j d_j·lp_j for lane ln's last
// forward, with respect to the Stepper's parameters.
func (s *Stepper[F]) backwardSet(ln *lane[F], g, d []F) {
	if s.only != nil {
		s.only.BackwardSet(ln.ws, g, d)
		return
	}
	rec := ln.rowsOf(g)
	if rec == nil || s.embGroup() < 0 {
		ln.ws.BackwardSet(g, d)
		if rec != nil {
			rec.ok = false
		}
		return
	}
	// an untied input embedding: clear only the rows the buffer's last
	// backward touched (model's BackwardSetRows; the same bits)
	if rec.ok {
		ln.ws.BackwardSetRows(g, d, rec.tok)
	} else {
		ln.ws.BackwardSet(g, d)
	}
	rec.tok = append(rec.tok[:0], ln.ws.Tokens()...)
	rec.ok = true
}

// rowsOf returns the row record of g when it is one of the lane's gradient
// buffers, else nil.
func (ln *lane[F]) rowsOf(g []F) *embRows {
	switch {
	case len(g) == 0:
		return nil
	case len(ln.gw) > 0 && &g[0] == &ln.gw[0]:
		return ln.gwRows
	case len(ln.gl) > 0 && &g[0] == &ln.gl[0]:
		return ln.glRows
	}
	return nil
}
