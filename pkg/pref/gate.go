package pref

import (
	"entangle/pkg/loss"
	"entangle/pkg/model"
)

// gate is the learned token gate of SparseLearned: m_t = σ(u·h_t + b) on
// the detached final hidden state h_t (doc.go), with the gradient of the
// batch-mean loss with respect to (u, b) of the last Grad.
type gate struct {
	u  []float64 // (C)
	b  float64
	gu []float64 // ∂(mean loss)/∂u
	gb float64
}

// newGate returns the gate at u = 0, b = 0: every m_t starts at σ(0) = 0.5.
func newGate(C int) *gate { return &gate{u: make([]float64, C), gu: make([]float64, C)} }

func (g *gate) clearGrad() {
	clear(g.gu)
	g.gb = 0
}

// step takes one SGD step of size lr on (u, b); none when lr is 0.
func (g *gate) step(lr float64) {
	if lr == 0 {
		return
	}
	for c := range g.u {
		g.u[c] -= lr * g.gu[c]
	}
	g.b -= lr * g.gb
}

// addGrad adds the current pair's contribution (scaled by invB) to the
// gate gradient:
//
//	∂ℓ/∂m_t = −d_w·lp_t + λ/n  (chosen tokens),  +d_l·lp_t + λ/n  (rejected),  n = |y_w| + |y_l|
//	∂m_t/∂u = m_t(1 − m_t)·h_t,  ∂m_t/∂b = m_t(1 − m_t)
func (g *gate) addGrad(w, l *side, r loss.Result, lambda, invB float64, C int) {
	n := float64(len(w.q) + len(l.q))
	for k, sd := range []*side{w, l} {
		sign := -r.DW
		if k == 1 {
			sign = r.DL
		}
		for t := range sd.q {
			m := sd.q[t]
			dm := (sign*sd.lp[t] + lambda/n) * m * (1 - m) * invB
			h := sd.hid[t*C : (t+1)*C]
			for c := range h {
				g.gu[c] += dm * h[c]
			}
			g.gb += dm
		}
	}
}

// learned: q_t = m_t (SparseLearned); it keeps the hidden states (sd.hid)
// for the gate's gradient.
type learned[F model.Float] struct{ g *gate }

func (learned[F]) needsHidden() bool { return true }
func (lw learned[F]) set(sd *side, h []F, C int, _ []bool) {
	sd.q, sd.hid = sd.q[:0], sd.hid[:0]
	g := lw.g
	for j := range sd.lp {
		a := g.b
		for c, x := range h[j*C : (j+1)*C] {
			a += g.u[c] * float64(x)
			sd.hid = append(sd.hid, float64(x))
		}
		sd.q = append(sd.q, loss.Logistic(a))
	}
}

// Gate returns the learned gate's parameters u (a view) and b.
func (s *Stepper[F]) Gate() (u []float64, b float64) { return s.gate.u, s.gate.b }

// SetGate sets the learned gate's parameters (checkpoint restore, tests).
func (s *Stepper[F]) SetGate(u []float64, b float64) {
	if len(u) != len(s.gate.u) {
		panic("pref: SetGate: u must have C values")
	}
	copy(s.gate.u, u)
	s.gate.b = b
}

// GateGrad returns the gradient of the batch-mean loss with respect to the
// learned gate's u (a view) and b, computed by the last Grad (before its
// gate update).
func (s *Stepper[F]) GateGrad() (u []float64, b float64) { return s.gate.gu, s.gate.gb }
