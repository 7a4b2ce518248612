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

// SetLoRA makes the Stepper measure the adapters a too (nil: no more). a
// must adapt the Stepper's model.
func (s *Stepper[F]) SetLoRA(a *model.LoRA[F]) {
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
