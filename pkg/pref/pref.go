package pref

import (
	"fmt"
	"math"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// Config configures a Stepper.
type Config struct {
	Loss         loss.Loss
	Beta         float64 // β of the TRL-style rewards β·(logp − ref); 0 means 1 (losses without β)
	Normalize    bool    // pairwise normalized update (doc.go)
	Sparse       string  // "", "oracle" or "learned" (doc.go)
	SparseLambda float64 // λ of the learned gate's L1 penalty
	GateLR       float64 // SGD step size of the learned gate's parameters (0: the gate is not updated)
}

// Pair is one preference pair of a batch, with its reference log-probs
// (computed once by the trainer, with the same masking as the policy's).
type Pair struct {
	Ex         *prefdata.Example
	RefW, RefL float64
}

// BatchStats are the batch-level quantities of one step (steps.arrows).
type BatchStats struct {
	Loss, Margin                      float64 // means over the batch
	LogpChosen, LogpRejected          float64 // means of the summed (masked) log-probs
	LogpChosenTok, LogpRejectedTok    float64 // means of the per-token log-probs (sum / length)
	RewardsChosen, RewardsRejected    float64 // means of β(logp − ref)
	RewardsMargins, RewardsAccuracies float64 // mean reward_w − reward_l; fraction reward_w > reward_l
	CosMean                           float64 // mean over pairs of cos(g_w, g_l)
	BatchDot, BatchWW, BatchLL        float64 // ⟨ḡ_w,ḡ_l⟩, ‖ḡ_w‖², ‖ḡ_l‖² of the batch-mean gradients
	KL                                float64 // kto_pair's reference point (0 for other losses)
}

// side holds one sequence's per-token data of the current pair.
type side struct {
	tok  []int32   // prompt + response
	lp   []float64 // response-token log-probs
	q    []float64 // token weights: 1, the oracle mask or the learned gate m_t
	hid  []float64 // (n_resp, C) detached hidden states at the predicting positions (learned gate only)
	z    float64   // Σ q_t lp_t
	grad []float32 // scratch for float32 views (dots through pkg/entangle)
}

// Stepper computes preference-optimization steps for one model. It holds
// the buffers of the largest batch seen, so that after the first step of a
// given batch size it allocates nothing. It is not safe for concurrent use.
type Stepper[F model.Float] struct {
	m      *model.Model[F]
	cfg    Config
	ws     *model.Workspace[F]
	n      int // parameters
	ranges []entangle.Range
	gd     []entangle.GroupDot

	gw, gl []F // ∇z_w, ∇z_l of the current pair
	sw, sl []F // Σ over pairs of g_w, g_l
	dlogp  []F
	w, l   side
	rows   []runfmt.PairRow
	kl     float64
	gateU  []float64 // learned gate u (C), b
	gateB  float64
	gateGU []float64 // ∂(mean loss)/∂u of the last Grad
	gateGB float64
	zs     []float64 // phase-0 log-probs (kto_pair)
	probes probeState[F]

	// Tests of the detached gate: record the gate values of each forward
	// (record), then replay them (frozen, fcount) so that θ moves without
	// moving the gates.
	record bool
	frozen [][]float64
	fcount int
}

// NewStepper returns a Stepper for m. It panics on an invalid Config
// (programmer error: the trainer validates flags).
func NewStepper[F model.Float](m *model.Model[F], cfg Config) *Stepper[F] {
	if cfg.Loss == nil {
		panic("pref: Config.Loss is nil")
	}
	switch cfg.Sparse {
	case "", "oracle", "learned":
	default:
		panic(fmt.Sprintf("pref: Sparse %q is not \"\", \"oracle\" or \"learned\"", cfg.Sparse))
	}
	if cfg.SparseLambda < 0 || cfg.GateLR < 0 {
		panic("pref: SparseLambda and GateLR must be ≥ 0")
	}
	n := len(m.Params)
	s := &Stepper[F]{m: m, cfg: cfg, ws: m.NewWorkspace(), n: n,
		gw: make([]F, n), gl: make([]F, n), sw: make([]F, n), sl: make([]F, n), dlogp: make([]F, m.Cfg.T)}
	for _, t := range model.Tensors(m.Cfg) {
		s.ranges = append(s.ranges, entangle.Range{Name: t.Name, Off: t.Offset, Len: t.Size})
	}
	s.gd = make([]entangle.GroupDot, len(s.ranges))
	T, C := m.Cfg.T, m.Cfg.C
	for _, sd := range []*side{&s.w, &s.l} {
		sd.tok = make([]int32, 0, T)
		sd.lp = make([]float64, 0, T)
		sd.q = make([]float64, 0, T)
		sd.hid = make([]float64, 0, T*C)
	}
	s.gateU = make([]float64, C) // u = 0, b = 0: every gate starts at m = σ(0) = 0.5
	s.gateGU = make([]float64, C)
	return s
}

// Groups returns the parameter groups (model.Tensors) in runfmt form.
func (s *Stepper[F]) Groups() []runfmt.Group {
	g := make([]runfmt.Group, len(s.ranges))
	for i, r := range s.ranges {
		g[i] = runfmt.Group{Name: r.Name, Offset: r.Off, Size: r.Len}
	}
	return g
}

// Gate returns the learned gate's parameters u (a view) and b.
func (s *Stepper[F]) Gate() (u []float64, b float64) { return s.gateU, s.gateB }

// SetGate sets the learned gate's parameters (checkpoint restore, tests).
func (s *Stepper[F]) SetGate(u []float64, b float64) {
	if len(u) != len(s.gateU) {
		panic("pref: SetGate: u must have C values")
	}
	copy(s.gateU, u)
	s.gateB = b
}

// GateGrad returns the gradient of the batch-mean loss with respect to the
// learned gate's u (a view) and b, computed by the last Grad (before its
// gate update).
func (s *Stepper[F]) GateGrad() (u []float64, b float64) { return s.gateGU, s.gateGB }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// forward runs one sequence: prompt then resp. It fills sd.lp, sd.q (the
// token weights), sd.z and, when hidSum is not nil, adds the hidden states
// at the predicting positions to hidSum.
func (s *Stepper[F]) forward(sd *side, prompt, resp []int32, contrastive []bool, hidSum []float32) {
	sd.tok = append(append(sd.tok[:0], prompt...), resp...)
	rs := len(prompt)
	lp := s.ws.Forward(sd.tok, rs)
	sd.lp, sd.q, sd.hid = sd.lp[:0], sd.q[:0], sd.hid[:0]
	C := s.m.Cfg.C
	var h []F
	if hidSum != nil || s.cfg.Sparse == "learned" {
		h = s.ws.Hidden()
	}
	for j := range lp {
		sd.lp = append(sd.lp, float64(lp[j]))
		var row []F
		if h != nil {
			row = h[(rs-1+j)*C : (rs+j)*C : (rs+j)*C]
		}
		switch s.cfg.Sparse {
		case "":
			sd.q = append(sd.q, 1)
		case "oracle":
			q := 0.0
			if contrastive[j] {
				q = 1
			}
			sd.q = append(sd.q, q)
		case "learned":
			a := s.gateB
			for c := range row {
				a += s.gateU[c] * float64(row[c])
				sd.hid = append(sd.hid, float64(row[c]))
			}
			sd.q = append(sd.q, sigmoid(a))
			if s.frozen != nil && !s.record { // tests: the gate values of a recorded pass
				sd.q[j] = s.frozen[s.fcount][j]
			}
		}
		if hidSum != nil {
			for c := range row {
				hidSum[c] += float32(row[c])
			}
		}
	}
	if s.record {
		s.frozen = append(s.frozen, append([]float64(nil), sd.q...))
	} else if s.frozen != nil {
		s.fcount++
	}
	z := 0.0
	for j := range sd.lp {
		z += sd.q[j] * sd.lp[j]
	}
	sd.z = z
}

// backward sets g = ∇θ Σ_t q_t lp_t for the last forward.
func (s *Stepper[F]) backward(g []F, sd *side) {
	clear(g)
	d := s.dlogp[:len(sd.q)]
	for j := range d {
		d[j] = F(sd.q[j])
	}
	s.ws.Backward(g, d)
}

// evalPair evaluates the loss of one pair from the two sides.
func (s *Stepper[F]) evalPair(p *Pair) loss.Result {
	return s.cfg.Loss.Eval(loss.Pair{Chosen: s.w.z, Rejected: s.l.z, RefChosen: p.RefW, RefRejected: p.RefL,
		LenChosen: len(p.Ex.Chosen), LenRejected: len(p.Ex.Rejected), KL: s.kl})
}

// gatePenalty is λ·mean over the pair's response tokens of m_t (learned only).
func (s *Stepper[F]) gatePenalty() float64 {
	if s.cfg.Sparse != "learned" {
		return 0
	}
	sum := 0.0
	for _, q := range s.w.q {
		sum += q
	}
	for _, q := range s.l.q {
		sum += q
	}
	return s.cfg.SparseLambda * sum / float64(len(s.w.q)+len(s.l.q))
}

// batchKL sets s.kl for kto_pair: the detached batch mean of
// ((z_w − ref_w) + (z_l − ref_l))/2, clamped at 0.
func (s *Stepper[F]) batchKL(batch []Pair) {
	s.kl = 0
	if s.cfg.Loss.Name() != "kto_pair" {
		return
	}
	sum := 0.0
	for i := range batch {
		p := &batch[i]
		s.forward(&s.w, p.Ex.Prompt, p.Ex.Chosen, p.Ex.ChosenContrastive, nil)
		s.forward(&s.l, p.Ex.Prompt, p.Ex.Rejected, p.Ex.RejectedContrastive, nil)
		sum += ((s.w.z - p.RefW) + (s.l.z - p.RefL)) / 2
	}
	s.kl = max(0, sum/float64(len(batch)))
}

// MeanLoss returns the batch-mean loss (1/B)Σ_i ℓ_i at the current
// parameters, including the learned gate's penalty: the function whose
// gradient Grad computes. It runs forward passes only.
func (s *Stepper[F]) MeanLoss(batch []Pair) float64 {
	s.fcount = 0
	s.batchKL(batch)
	sum := 0.0
	for i := range batch {
		p := &batch[i]
		s.forward(&s.w, p.Ex.Prompt, p.Ex.Chosen, p.Ex.ChosenContrastive, nil)
		s.forward(&s.l, p.Ex.Prompt, p.Ex.Rejected, p.Ex.RejectedContrastive, nil)
		sum += s.evalPair(p).Loss + s.gatePenalty()
	}
	return sum / float64(len(batch))
}

// dots computes ⟨a,b⟩, ‖a‖², ‖b‖² overall and per group into dotG, wwG, llG.
func (s *Stepper[F]) dots(a, b []F, dotG, wwG, llG []float64) (dot, ww, ll float64) {
	switch x := any(a).(type) {
	case []float32:
		entangle.DotGroups(s.gd, x, any(b).([]float32), s.ranges)
	default:
		// float64 (tests): the same reductions in plain index order.
		for g, r := range s.ranges {
			var d, aa, bb float64
			for i := r.Off; i < r.Off+r.Len; i++ {
				ai, bi := float64(a[i]), float64(b[i])
				d += ai * bi
				aa += ai * ai
				bb += bi * bi
			}
			s.gd[g] = entangle.GroupDot{Name: r.Name, Dot: d, AA: aa, BB: bb}
		}
	}
	for g := range s.gd {
		dotG[g], wwG[g], llG[g] = s.gd[g].Dot, s.gd[g].AA, s.gd[g].BB
		dot += s.gd[g].Dot
		ww += s.gd[g].AA
		ll += s.gd[g].BB
	}
	return dot, ww, ll
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// growRows returns rows for b pairs, reusing the list buffers.
func growRows(rows []runfmt.PairRow, b, g, c int) []runfmt.PairRow {
	for len(rows) < b {
		rows = append(rows, runfmt.PairRow{DotG: make([]float64, g), WWG: make([]float64, g), LLG: make([]float64, g),
			HidW: make([]float32, c), HidL: make([]float32, c)})
	}
	return rows[:b]
}

// pairGrads runs both sides of pair p: log-probs, gradients into s.gw and
// s.gl, the loss, and fills row (everything but Step, Kind and the after
// columns). It returns the loss result.
func (s *Stepper[F]) pairGrads(p *Pair, row *runfmt.PairRow) (loss.Result, error) {
	ex := p.Ex
	clear(row.HidW)
	clear(row.HidL)
	s.forward(&s.w, ex.Prompt, ex.Chosen, ex.ChosenContrastive, row.HidW)
	s.backward(s.gl, &s.w)
	copy(s.gw, s.gl)
	s.forward(&s.l, ex.Prompt, ex.Rejected, ex.RejectedContrastive, row.HidL)
	s.backward(s.gl, &s.l)
	r := s.evalPair(p)
	r.Loss += s.gatePenalty()
	dot, ww, ll := s.dots(s.gw, s.gl, row.DotG, row.WWG, row.LLG)
	cw, cl := r.DW, r.DL
	if s.cfg.Normalize {
		cw, cl = loss.Normalized(r, math.Sqrt(ww), math.Sqrt(ll))
	}
	*row = runfmt.PairRow{Pair: ex.ID, LogpW: s.w.z, LogpL: s.l.z, RefW: p.RefW, RefL: p.RefL,
		LenW: int32(len(ex.Chosen)), LenL: int32(len(ex.Rejected)), Loss: r.Loss, Margin: r.Margin,
		DW: r.DW, DL: r.DL, CW: cw, CL: cl, Dot: dot, WW: ww, LL: ll,
		DotG: row.DotG, WWG: row.WWG, LLG: row.LLG, HidW: row.HidW, HidL: row.HidL,
		LogpWAfter: math.NaN(), LogpLAfter: math.NaN(), PredW: math.NaN(), PredL: math.NaN()}
	if !finite(s.w.z, s.l.z, r.Loss, r.DW, r.DL, cw, cl, dot, ww, ll) {
		return r, fmt.Errorf("pref: pair %d: non-finite loss or gradient (logp_w %g, logp_l %g, loss %g, d_w %g, d_l %g, ‖g_w‖² %g, ‖g_l‖² %g)",
			ex.ID, s.w.z, s.l.z, r.Loss, r.DW, r.DL, ww, ll)
	}
	return r, nil
}

// Grad computes one step's gradient for batch. For every pair it computes
// g_w = ∇θ z_w and g_l = ∇θ z_l separately (one backward each), the exact
// dot products and squared norms overall and per group (float64), the loss
// weights, and it writes into dst the gradient of the batch-MEAN loss
//
//	dst = (1/B) Σ_i (−cw_i g_w,i + cl_i g_l,i)
//
// with (cw, cl) = (d_w, d_l), or loss.Normalized's under Normalize (then dst
// is the negated normalized ascent direction, not a loss gradient). Pairs
// are processed, and summed, in batch order. It returns one row per pair
// (Step and Kind are the caller's; views valid until the next Grad) and
// the batch statistics. A non-finite loss or gradient is an error naming the
// pair; dst is then unspecified. With Sparse "learned" it also computes the
// gate's gradient (GateGrad) and, if GateLR > 0, takes one SGD step on it.
func (s *Stepper[F]) Grad(dst []F, batch []Pair) ([]runfmt.PairRow, BatchStats, error) {
	if len(dst) != s.n {
		panic("pref: Grad: dst must have one value per parameter")
	}
	if len(batch) == 0 {
		panic("pref: Grad: empty batch")
	}
	B := len(batch)
	invB := 1 / float64(B)
	s.rows = growRows(s.rows, B, len(s.ranges), s.m.Cfg.C)
	clear(dst)
	clear(s.sw)
	clear(s.sl)
	clear(s.gateGU)
	s.gateGB = 0
	s.batchKL(batch)
	var st BatchStats
	st.KL = s.kl
	beta := s.cfg.Beta
	if beta == 0 {
		beta = 1
	}
	for i := range batch {
		p := &batch[i]
		row := &s.rows[i]
		r, err := s.pairGrads(p, row)
		if err != nil {
			return nil, st, err
		}
		a, c := row.CW*invB, row.CL*invB
		for k := range dst {
			dst[k] += F(-a*float64(s.gw[k]) + c*float64(s.gl[k]))
			s.sw[k] += s.gw[k]
			s.sl[k] += s.gl[k]
		}
		if s.cfg.Sparse == "learned" {
			s.gateGrads(r, invB)
		}
		st.Loss += r.Loss
		st.Margin += r.Margin
		st.LogpChosen += row.LogpW
		st.LogpRejected += row.LogpL
		st.LogpChosenTok += row.LogpW / float64(row.LenW)
		st.LogpRejectedTok += row.LogpL / float64(row.LenL)
		rw, rl := beta*(row.LogpW-row.RefW), beta*(row.LogpL-row.RefL)
		st.RewardsChosen += rw
		st.RewardsRejected += rl
		st.RewardsMargins += rw - rl
		if rw > rl {
			st.RewardsAccuracies++
		}
		st.CosMean += row.Dot / math.Sqrt(row.WW*row.LL)
	}
	for _, p := range []*float64{&st.Loss, &st.Margin, &st.LogpChosen, &st.LogpRejected, &st.LogpChosenTok,
		&st.LogpRejectedTok, &st.RewardsChosen, &st.RewardsRejected, &st.RewardsMargins, &st.RewardsAccuracies, &st.CosMean} {
		*p *= invB
	}
	var d, ww, ll float64
	for k := range s.sw {
		a, b := float64(s.sw[k]), float64(s.sl[k])
		d += a * b
		ww += a * a
		ll += b * b
	}
	st.BatchDot, st.BatchWW, st.BatchLL = d*invB*invB, ww*invB*invB, ll*invB*invB
	if s.cfg.Sparse == "learned" && s.cfg.GateLR > 0 {
		for c := range s.gateU {
			s.gateU[c] -= s.cfg.GateLR * s.gateGU[c]
		}
		s.gateB -= s.cfg.GateLR * s.gateGB
	}
	return s.rows, st, nil
}

// gateGrads adds the current pair's contribution (scaled by invB) to the
// gate gradient:
//
//	∂ℓ/∂m_t = −d_w·lp_t + λ/n  (chosen tokens),  +d_l·lp_t + λ/n  (rejected),  n = |y_w| + |y_l|
//	∂m_t/∂u = m_t(1 − m_t)·h_t,  ∂m_t/∂b = m_t(1 − m_t)
func (s *Stepper[F]) gateGrads(r loss.Result, invB float64) {
	C := s.m.Cfg.C
	n := float64(len(s.w.q) + len(s.l.q))
	for k, sd := range []*side{&s.w, &s.l} {
		sign := -r.DW
		if k == 1 {
			sign = r.DL
		}
		for t := range sd.q {
			m := sd.q[t]
			dm := (sign*sd.lp[t] + s.cfg.SparseLambda/n) * m * (1 - m) * invB
			h := sd.hid[t*C : (t+1)*C]
			for c := range h {
				s.gateGU[c] += dm * h[c]
			}
			s.gateGB += dm
		}
	}
}
