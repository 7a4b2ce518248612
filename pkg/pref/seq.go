package pref

import (
	"fmt"
	"math"

	"entangle/internal/num"
	"entangle/pkg/loss"
	"entangle/pkg/model"
)

// side holds one sequence's per-token data of the current pair.
type side struct {
	tok []int32   // prompt + response
	lp  []float64 // response-token log-probs
	q   []float64 // token weights: 1, the oracle mask or the learned gate m_t
	hid []float64 // (n_resp, C) detached hidden states at the predicting positions (learned gate only)
	z   float64   // Σ q_t lp_t
}

// forward runs one sequence on lane ln: prompt then resp. It fills sd.lp,
// sd.q (the token weights), sd.z and, when hidSum is not nil, adds the hidden
// states at the predicting positions to hidSum. With reuse, the activations
// of the prefix shared with the lane's previous forward are reused
// (model.Workspace.ForwardReuse; the parameters must not have changed since).
func (s *Stepper[F]) forward(ln *lane[F], sd *side, prompt, resp []int32, contrastive []bool, hidSum []float32, reuse bool) {
	sd.tok = append(append(sd.tok[:0], prompt...), resp...)
	rs := len(prompt)
	var lp []F
	if reuse {
		lp, _ = ln.ws.ForwardReuse(sd.tok, rs)
	} else {
		lp = ln.ws.Forward(sd.tok, rs)
	}
	sd.lp = sd.lp[:0]
	for _, x := range lp {
		sd.lp = append(sd.lp, float64(x))
	}
	// h: the final hidden states at the positions that predict the
	// response tokens, (len(lp), C).
	C := s.m.Cfg.C
	var h []F
	if hidSum != nil || s.weights.needsHidden() {
		h = ln.ws.Hidden()[(rs-1)*C : (rs-1+len(lp))*C]
	}
	s.weights.set(sd, h, C, contrastive)
	if hidSum != nil {
		for j := range lp {
			for c, x := range h[j*C : (j+1)*C] {
				hidSum[c] += float32(x)
			}
		}
	}
	z := 0.0
	for j := range sd.lp {
		z += sd.q[j] * sd.lp[j]
	}
	sd.z = z
}

// backward sets g = ∇θ Σ_t q_t lp_t for the last forward of lane ln.
func (s *Stepper[F]) backward(ln *lane[F], g []F, sd *side) {
	d := ln.dlogp[:len(sd.q)]
	for j := range d {
		d[j] = F(sd.q[j])
	}
	s.backwardSet(ln, g, d)
}

// forwardPair runs both sides of p on lane ln (the rejected side reusing
// the chosen side's shared prefix), without gradients.
func (s *Stepper[F]) forwardPair(ln *lane[F], p *Pair) {
	s.forward(ln, &ln.w, p.Ex.Prompt, p.Ex.Chosen, p.Ex.ChosenContrastive, nil, false)
	s.forward(ln, &ln.l, p.Ex.Prompt, p.Ex.Rejected, p.Ex.RejectedContrastive, nil, true)
}

// evalPair evaluates the loss of one pair from the two sides of lane ln.
func (s *Stepper[F]) evalPair(ln *lane[F], p *Pair) loss.Result {
	return s.cfg.Loss.Eval(loss.Pair{Chosen: ln.w.z, Rejected: ln.l.z, RefChosen: p.RefW, RefRejected: p.RefL,
		LenChosen: len(p.Ex.Chosen), LenRejected: len(p.Ex.Rejected), KL: s.kl})
}

// batchKL sets s.kl for a loss that reads it (Config.KL): the detached batch
// mean of ((z_w − ref_w) + (z_l − ref_l))/2, clamped at 0.
func (s *Stepper[F]) batchKL(batch []Pair) {
	s.kl = 0
	if !s.cfg.KL {
		return
	}
	sum := 0.0
	ln := s.main
	for i := range batch {
		p := &batch[i]
		s.forwardPair(ln, p)
		sum += ((ln.w.z - p.RefW) + (ln.l.z - p.RefL)) / 2
	}
	s.kl = max(0, sum/float64(len(batch)))
}

// MeanLoss returns the batch-mean loss (1/B)Σ_i ℓ_i at the current
// parameters, including the learned gate's penalty: the function whose
// gradient Grad computes. It runs forward passes only.
func (s *Stepper[F]) MeanLoss(batch []Pair) float64 {
	s.batchKL(batch)
	sum := 0.0
	ln := s.main
	for i := range batch {
		p := &batch[i]
		s.forwardPair(ln, p)
		sum += s.evalPair(ln, p).Loss + s.gatePenalty(ln)
	}
	return sum / float64(len(batch))
}

// gatePenalty is λ·mean over the pair's response tokens of m_t (learned only).
func (s *Stepper[F]) gatePenalty(ln *lane[F]) float64 {
	if s.cfg.Sparse != SparseLearned {
		return 0
	}
	sum := 0.0
	for _, q := range ln.w.q {
		sum += q
	}
	for _, q := range ln.l.q {
		sum += q
	}
	return s.cfg.SparseLambda * sum / float64(len(ln.w.q)+len(ln.l.q))
}

// pairGrads runs both sides of pair p on lane ln: log-probs, g_w into ln.gw
// and g_l into ln.gl (the rejected forward reuses the chosen's activations
// of their shared prefix), the loss, and the hidden-state sums of row. With
// withDots it also computes the dots and fills row (finishRow); without,
// the caller does both in its fused pass. It returns the loss result.
func (s *Stepper[F]) pairGrads(ln *lane[F], p *Pair, row *PairStats, withDots bool) (loss.Result, error) {
	ex := p.Ex
	clear(row.HidW)
	clear(row.HidL)
	s.forward(ln, &ln.w, ex.Prompt, ex.Chosen, ex.ChosenContrastive, row.HidW, false)
	s.backward(ln, ln.gw, &ln.w)
	s.forward(ln, &ln.l, ex.Prompt, ex.Rejected, ex.RejectedContrastive, row.HidL, true)
	s.backward(ln, ln.gl, &ln.l)
	r := s.evalPair(ln, p)
	r.Loss += s.gatePenalty(ln)
	s.loraDots(ln)
	ln.zb.g = s.embGroup()
	if ln.zb.g >= 0 {
		if nb := (s.groups[ln.zb.g].Len + passBlock - 1) / passBlock; len(ln.zb.pair) != nb {
			ln.zb.pair = make([]bool, nb)
		}
		s.markPair(ln.zb.pair, p, false)
	}
	if !withDots {
		return r, nil
	}
	ln.zb.batch = nil
	zb := &ln.zb
	if zb.g < 0 {
		zb = nil
	}
	pairPassFold(nil, nil, nil, ln.gw, ln.gl, 0, 0, s.groups, ln.gd, true, ln.acc, nil, zb)
	return r, s.finishRow(ln, p, row, r)
}

// finishRow fills row from the pair's loss result and the dots in ln.gd
// (everything but the after fields, which it sets to NaN), and reports a
// non-finite value as an error naming the pair.
func (s *Stepper[F]) finishRow(ln *lane[F], p *Pair, row *PairStats, r loss.Result) error {
	ex := p.Ex
	var dot, ww, ll float64
	for g, d := range ln.gd {
		row.DotG[g], row.WWG[g], row.LLG[g] = d.Dot, d.AA, d.BB
		dot += d.Dot
		ww += d.AA
		ll += d.BB
	}
	for k, d := range ln.agd[:len(s.loraGroups)] {
		g := len(ln.gd) + k
		row.DotG[g], row.WWG[g], row.LLG[g] = d.Dot, d.AA, d.BB
	}
	cw, cl := r.DW, r.DL
	if s.cfg.Normalize {
		cw, cl = loss.Normalized(r, math.Sqrt(ww), math.Sqrt(ll))
	}
	*row = PairStats{Pair: ex.ID, LogpW: ln.w.z, LogpL: ln.l.z, RefW: p.RefW, RefL: p.RefL,
		LenW: int32(len(ex.Chosen)), LenL: int32(len(ex.Rejected)), Loss: r.Loss, Margin: r.Margin,
		DW: r.DW, DL: r.DL, CW: cw, CL: cl, Dot: dot, WW: ww, LL: ll,
		DotG: row.DotG, WWG: row.WWG, LLG: row.LLG, HidW: row.HidW, HidL: row.HidL,
		LogpWAfter: math.NaN(), LogpLAfter: math.NaN(), PredW: math.NaN(), PredL: math.NaN()}
	if !num.Finite(ln.w.z, ln.l.z, r.Loss, r.DW, r.DL, cw, cl, dot, ww, ll) {
		return fmt.Errorf("pref: pair %d: non-finite loss or gradient (logp_w %g, logp_l %g, loss %g, d_w %g, d_l %g, ‖g_w‖² %g, ‖g_l‖² %g)",
			ex.ID, ln.w.z, ln.l.z, r.Loss, r.DW, r.DL, ww, ll)
	}
	return nil
}

// tokenWeights sets the token weights q_t of a forward (sd.q, one per
// response token), given the final hidden states h (n, C) at the
// predicting positions (nil unless needsHidden) and the dataset's
// contrastive flags. One implementation per Sparse mode.
type tokenWeights[F model.Float] interface {
	set(sd *side, h []F, C int, contrastive []bool)
	needsHidden() bool
}

// ones: q_t = 1 (SparseNone).
type ones[F model.Float] struct{}

func (ones[F]) needsHidden() bool { return false }
func (ones[F]) set(sd *side, _ []F, _ int, _ []bool) {
	sd.q, sd.hid = sd.q[:0], sd.hid[:0]
	for range sd.lp {
		sd.q = append(sd.q, 1)
	}
}

// oracle: q_t = 1 on contrastive tokens, 0 elsewhere (SparseOracle).
type oracle[F model.Float] struct{}

func (oracle[F]) needsHidden() bool { return false }
func (oracle[F]) set(sd *side, _ []F, _ int, contrastive []bool) {
	sd.q, sd.hid = sd.q[:0], sd.hid[:0]
	for j := range sd.lp {
		q := 0.0
		if contrastive[j] {
			q = 1
		}
		sd.q = append(sd.q, q)
	}
}
