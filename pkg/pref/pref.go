package pref

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"entangle/internal/gemm"
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
	tok []int32   // prompt + response
	lp  []float64 // response-token log-probs
	q   []float64 // token weights: 1, the oracle mask or the learned gate m_t
	hid []float64 // (n_resp, C) detached hidden states at the predicting positions (learned gate only)
	z   float64   // Σ q_t lp_t
}

// maxLanes bounds the goroutines of Grad (each lane holds a pair's g_w and
// g_l: 2·NumParams values).
const maxLanes = 4

// lane is one worker of Grad: a workspace, the two sides of its current pair
// and the pair's gradients. The Stepper's own lane (main) also serves
// MeanLoss, probes and dumps.
type lane[F model.Float] struct {
	ws     *model.Workspace[F]
	w, l   side
	gw, gl []F // ∇z_w, ∇z_l of the current pair
	dlogp  []F
	gd     []entangle.GroupDot
	acc    *[48]float64 // pairPass's float64 lanes (gemm.PairBlock)
}

func newLane[F model.Float](m *model.Model[F], ws *model.Workspace[F], gw, gl []F, groups int) *lane[F] {
	n, T, C := len(m.Params), m.Cfg.T, m.Cfg.C
	if gw == nil {
		gw, gl = make([]F, n), make([]F, n)
	}
	ln := &lane[F]{ws: ws, gw: gw, gl: gl, dlogp: make([]F, T), gd: make([]entangle.GroupDot, groups), acc: new([48]float64)}
	for _, sd := range []*side{&ln.w, &ln.l} {
		sd.tok = make([]int32, 0, T)
		sd.lp = make([]float64, 0, T)
		sd.q = make([]float64, 0, T)
		sd.hid = make([]float64, 0, T*C)
	}
	return ln
}

// Stepper computes preference-optimization steps for one model. It holds
// the buffers of the largest batch seen, so that after the first step of a
// given batch size it allocates nothing. It is not safe for concurrent use.
type Stepper[F model.Float] struct {
	m      *model.Model[F]
	cfg    Config
	n      int // parameters
	ranges []entangle.Range

	main   *lane[F]   // MeanLoss, probes, dumps, and Grad on one lane
	lanes  []*lane[F] // Grad's lanes (serial kernels); lanes[0] shares main's gradient buffers
	sw, sl []F        // Σ over pairs of g_w, g_l
	rows   []runfmt.PairRow
	res    []loss.Result   // per pair, of the last Grad
	errs   []error         // per pair, of the last Grad
	turn   []chan struct{} // turn[i]: pair i may be added to the sums
	kl     float64
	gateU  []float64 // learned gate u (C), b
	gateB  float64
	gateGU []float64 // ∂(mean loss)/∂u of the last Grad
	gateGB float64
	zs     []float64 // phase-0 log-probs (kto_pair)
	probes probeState[F]

	// Attribution (SetAttribution): the probe gradients, and per pair of the
	// last Grad the 4 dots with each probe, [pair][probe][ww, wl, lw, ll].
	agw, agl [][]F
	adots    []float64
	arows    []runfmt.AttribRow

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
	s := &Stepper[F]{m: m, cfg: cfg, n: n, sw: make([]F, n), sl: make([]F, n)}
	for _, t := range model.Tensors(m.Cfg) {
		s.ranges = append(s.ranges, entangle.Range{Name: t.Name, Off: t.Offset, Len: t.Size})
	}
	s.main = newLane(m, m.NewWorkspace(), nil, nil, len(s.ranges))
	C := m.Cfg.C
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
	sd.lp, sd.q, sd.hid = sd.lp[:0], sd.q[:0], sd.hid[:0]
	C := s.m.Cfg.C
	var h []F
	if hidSum != nil || s.cfg.Sparse == "learned" {
		h = ln.ws.Hidden()
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

// backward sets g = ∇θ Σ_t q_t lp_t for the last forward of lane ln.
func (s *Stepper[F]) backward(ln *lane[F], g []F, sd *side) {
	d := ln.dlogp[:len(sd.q)]
	for j := range d {
		d[j] = F(sd.q[j])
	}
	ln.ws.BackwardSet(g, d)
}

// evalPair evaluates the loss of one pair from the two sides of lane ln.
func (s *Stepper[F]) evalPair(ln *lane[F], p *Pair) loss.Result {
	return s.cfg.Loss.Eval(loss.Pair{Chosen: ln.w.z, Rejected: ln.l.z, RefChosen: p.RefW, RefRejected: p.RefL,
		LenChosen: len(p.Ex.Chosen), LenRejected: len(p.Ex.Rejected), KL: s.kl})
}

// gatePenalty is λ·mean over the pair's response tokens of m_t (learned only).
func (s *Stepper[F]) gatePenalty(ln *lane[F]) float64 {
	if s.cfg.Sparse != "learned" {
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

// batchKL sets s.kl for kto_pair: the detached batch mean of
// ((z_w − ref_w) + (z_l − ref_l))/2, clamped at 0.
func (s *Stepper[F]) batchKL(batch []Pair) {
	s.kl = 0
	if s.cfg.Loss.Name() != "kto_pair" {
		return
	}
	sum := 0.0
	ln := s.main
	for i := range batch {
		p := &batch[i]
		s.forward(ln, &ln.w, p.Ex.Prompt, p.Ex.Chosen, p.Ex.ChosenContrastive, nil, false)
		s.forward(ln, &ln.l, p.Ex.Prompt, p.Ex.Rejected, p.Ex.RejectedContrastive, nil, true)
		sum += ((ln.w.z - p.RefW) + (ln.l.z - p.RefL)) / 2
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
	ln := s.main
	for i := range batch {
		p := &batch[i]
		s.forward(ln, &ln.w, p.Ex.Prompt, p.Ex.Chosen, p.Ex.ChosenContrastive, nil, false)
		s.forward(ln, &ln.l, p.Ex.Prompt, p.Ex.Rejected, p.Ex.RejectedContrastive, nil, true)
		sum += s.evalPair(ln, p).Loss + s.gatePenalty(ln)
	}
	return sum / float64(len(batch))
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

// pairGrads runs both sides of pair p on lane ln: log-probs, g_w into ln.gw
// and g_l into ln.gl (the rejected forward reuses the chosen's activations
// of their shared prefix), the loss, and the hidden-state sums of row. With
// withDots it also computes the dots and fills row (finishRow); without,
// the caller does both in its fused pass. It returns the loss result.
func (s *Stepper[F]) pairGrads(ln *lane[F], p *Pair, row *runfmt.PairRow, withDots bool) (loss.Result, error) {
	ex := p.Ex
	clear(row.HidW)
	clear(row.HidL)
	s.forward(ln, &ln.w, ex.Prompt, ex.Chosen, ex.ChosenContrastive, row.HidW, false)
	s.backward(ln, ln.gw, &ln.w)
	s.forward(ln, &ln.l, ex.Prompt, ex.Rejected, ex.RejectedContrastive, row.HidL, true)
	s.backward(ln, ln.gl, &ln.l)
	r := s.evalPair(ln, p)
	r.Loss += s.gatePenalty(ln)
	if !withDots {
		return r, nil
	}
	pairPass(nil, nil, nil, ln.gw, ln.gl, 0, 0, s.ranges, ln.gd, true, ln.acc)
	return r, s.finishRow(ln, p, row, r)
}

// finishRow fills row from the pair's loss result and the dots in ln.gd
// (everything but Step, Kind and the after columns), and reports a
// non-finite value as an error naming the pair.
func (s *Stepper[F]) finishRow(ln *lane[F], p *Pair, row *runfmt.PairRow, r loss.Result) error {
	ex := p.Ex
	var dot, ww, ll float64
	for g, d := range ln.gd {
		row.DotG[g], row.WWG[g], row.LLG[g] = d.Dot, d.AA, d.BB
		dot += d.Dot
		ww += d.AA
		ll += d.BB
	}
	cw, cl := r.DW, r.DL
	if s.cfg.Normalize {
		cw, cl = loss.Normalized(r, math.Sqrt(ww), math.Sqrt(ll))
	}
	*row = runfmt.PairRow{Pair: ex.ID, LogpW: ln.w.z, LogpL: ln.l.z, RefW: p.RefW, RefL: p.RefL,
		LenW: int32(len(ex.Chosen)), LenL: int32(len(ex.Rejected)), Loss: r.Loss, Margin: r.Margin,
		DW: r.DW, DL: r.DL, CW: cw, CL: cl, Dot: dot, WW: ww, LL: ll,
		DotG: row.DotG, WWG: row.WWG, LLG: row.LLG, HidW: row.HidW, HidL: row.HidL,
		LogpWAfter: math.NaN(), LogpLAfter: math.NaN(), PredW: math.NaN(), PredL: math.NaN()}
	if !finite(ln.w.z, ln.l.z, r.Loss, r.DW, r.DL, cw, cl, dot, ww, ll) {
		return fmt.Errorf("pref: pair %d: non-finite loss or gradient (logp_w %g, logp_l %g, loss %g, d_w %g, d_l %g, ‖g_w‖² %g, ‖g_l‖² %g)",
			ex.ID, ln.w.z, ln.l.z, r.Loss, r.DW, r.DL, ww, ll)
	}
	return nil
}

// passBlock is the block length of pairPass's float64 partial sums, which are
// then added with Neumaier's compensation.
const passBlock = 1024

// pairPass is the one pass over a pair's gradients (gw, gl) that the step
// needs. With dst != nil it accumulates, element by element,
//
//	dst += F(a·gw + c·gl)   (in float64),   sw += gw,   sl += gl
//
// and with dots it sets gd[g] to ⟨gw,gl⟩, ‖gw‖², ‖gl‖² over each group's
// range, in float64 (the products of float32 values are exact): partial sums
// over blocks of passBlock elements, added with Neumaier's compensation.
// Every value depends only on its inputs, never on the lanes.
//
// float32 runs each block through gemm.PairBlock (SIMD where available: the
// same element formula, the dots in 16 float64 lanes reduced by
// gemm.SumLanes); float64 runs the loops below.
func pairPass[F model.Float](dst, sw, sl, gw, gl []F, a, c float64, ranges []entangle.Range, gd []entangle.GroupDot, dots bool, acc *[48]float64) {
	if unsafe.Sizeof(F(0)) == 4 {
		pairPass32(as32(dst), as32(sw), as32(sl), as32(gw), as32(gl), a, c, ranges, gd, dots, acc)
		return
	}
	for g, r := range ranges {
		var sd, cd, sa, ca, sb, cb float64
		for off := r.Off; off < r.Off+r.Len; off += passBlock {
			end := min(off+passBlock, r.Off+r.Len)
			x, y := gw[off:end], gl[off:end]
			y = y[:len(x)]
			if dst != nil {
				d, u, v := dst[off:end], sw[off:end], sl[off:end]
				d, u, v = d[:len(x)], u[:len(x)], v[:len(x)]
				for k, xk := range x {
					yk := y[k]
					d[k] += F(float64(a*float64(xk)) + float64(c*float64(yk)))
					u[k] += xk
					v[k] += yk
				}
			}
			if !dots {
				continue
			}
			var d0, d1, a0, a1, b0, b1 float64
			k := 0
			for ; k+1 < len(x); k += 2 {
				x0, x1, y0, y1 := float64(x[k]), float64(x[k+1]), float64(y[k]), float64(y[k+1])
				d0 += x0 * y0
				d1 += x1 * y1
				a0 += x0 * x0
				a1 += x1 * x1
				b0 += y0 * y0
				b1 += y1 * y1
			}
			if k < len(x) {
				x0, y0 := float64(x[k]), float64(y[k])
				d0 += x0 * y0
				a0 += x0 * x0
				b0 += y0 * y0
			}
			sd, cd = neumaier(sd, cd, d0+d1)
			sa, ca = neumaier(sa, ca, a0+a1)
			sb, cb = neumaier(sb, cb, b0+b1)
		}
		if dots {
			gd[g] = entangle.GroupDot{Name: r.Name, Dot: sd + cd, AA: sa + ca, BB: sb + cb}
		}
	}
}

// pairPass32 is pairPass for float32 gradients.
// acc is scratch.
func pairPass32(dst, sw, sl, gw, gl []float32, a, c float64, ranges []entangle.Range, gd []entangle.GroupDot, dots bool, acc *[48]float64) {
	pacc := acc
	if !dots {
		pacc = nil
	}
	for g, r := range ranges {
		var sd, cd, sa, ca, sb, cb float64
		for off := r.Off; off < r.Off+r.Len; off += passBlock {
			end := min(off+passBlock, r.Off+r.Len)
			var d, u, v []float32
			if dst != nil {
				d, u, v = dst[off:end], sw[off:end], sl[off:end]
			}
			*acc = [48]float64{}
			gemm.PairBlock(d, u, v, gw[off:end], gl[off:end], a, c, pacc)
			if !dots {
				continue
			}
			bd, ba, bb := gemm.SumLanes(acc)
			sd, cd = neumaier(sd, cd, bd)
			sa, ca = neumaier(sa, ca, ba)
			sb, cb = neumaier(sb, cb, bb)
		}
		if dots {
			gd[g] = entangle.GroupDot{Name: r.Name, Dot: sd + cd, AA: sa + ca, BB: sb + cb}
		}
	}
}

// as32 reinterprets a []F of 4-byte elements (F's underlying type is
// float32) as []float32, without copying; nil stays nil.
func as32[F model.Float](x []F) []float32 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&x[0])), len(x))
}

// neumaier adds x to the compensated sum (s, c).
func neumaier(s, c, x float64) (float64, float64) {
	t := s + x
	if math.Abs(s) >= math.Abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}

// Grad computes one step's gradient for batch. For every pair it computes
// g_w = ∇θ z_w and g_l = ∇θ z_l separately (one backward each), the exact
// dot products and squared norms overall and per group (float64), the loss
// weights, and it writes into dst the gradient of the batch-MEAN loss
//
//	dst = (1/B) Σ_i (−cw_i g_w,i + cl_i g_l,i)
//
// with (cw, cl) = (d_w, d_l), or loss.Normalized's under Normalize (then dst
// is the negated normalized ascent direction, not a loss gradient).
//
// Pairs run concurrently on up to min(GOMAXPROCS, B, 4) lanes (pair i on
// lane i mod lanes, serial kernels), but each pair is added to dst and to the
// batch sums in batch order, in one pass that also computes its dots
// (pairPass), so the result does not depend on the number of lanes: every
// pair's values are computed by one goroutine in a fixed order. It returns
// one row per pair (Step and Kind are the caller's; views valid until the
// next Grad) and the batch statistics. A non-finite loss or gradient is an
// error naming the first such pair; dst is then unspecified. With Sparse
// "learned" it also computes the gate's gradient (GateGrad) and, if
// GateLR > 0, takes one SGD step on it.
func (s *Stepper[F]) Grad(dst []F, batch []Pair) ([]runfmt.PairRow, BatchStats, error) {
	if len(dst) != s.n {
		panic("pref: Grad: dst must have one value per parameter")
	}
	if len(batch) == 0 {
		panic("pref: Grad: empty batch")
	}
	// the parameters are fixed during Grad: multiply by weights packed once
	s.m.PackWeights()
	defer s.m.UnpackWeights()
	B := len(batch)
	invB := 1 / float64(B)
	s.rows = growRows(s.rows, B, len(s.ranges), s.m.Cfg.C)
	for len(s.res) < B {
		s.res = append(s.res, loss.Result{})
		s.errs = append(s.errs, nil)
	}
	for len(s.turn) < B+1 {
		s.turn = append(s.turn, make(chan struct{}, 1))
	}
	if np := len(s.agw); np > 0 {
		if cap(s.adots) < 4*np*B {
			s.adots = make([]float64, 4*np*B)
		}
		s.adots = s.adots[:4*np*B]
	}
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

	nl := min(runtime.GOMAXPROCS(0), B, maxLanes)
	if s.record || s.frozen != nil {
		nl = 1 // tests replaying recorded gates count forwards in order
	}
	if nl == 1 {
		for i := range batch {
			s.stepPair(s.main, dst, batch, i, invB, false)
		}
	} else {
		s.runLanes(nl, dst, batch, invB)
	}
	for i := range batch {
		if s.errs[i] != nil {
			return nil, st, s.errs[i]
		}
	}

	for i := range batch {
		row, r := &s.rows[i], s.res[i]
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
	s.attribRows(batch)
	if s.cfg.Sparse == "learned" && s.cfg.GateLR > 0 {
		for c := range s.gateU {
			s.gateU[c] -= s.cfg.GateLR * s.gateGU[c]
		}
		s.gateB -= s.cfg.GateLR * s.gateGB
	}
	return s.rows, st, nil
}

// runLanes runs the pairs of batch on nl goroutines (pair i on lane i mod
// nl), each adding its pairs to the sums in turn.
func (s *Stepper[F]) runLanes(nl int, dst []F, batch []Pair, invB float64) {
	for len(s.lanes) < nl {
		var gw, gl []F
		if len(s.lanes) == 0 {
			gw, gl = s.main.gw, s.main.gl
		}
		s.lanes = append(s.lanes, newLane(s.m, s.m.NewSerialWorkspace(), gw, gl, len(s.ranges)))
	}
	B := len(batch)
	s.turn[0] <- struct{}{}
	var wg sync.WaitGroup
	for k := range nl {
		ln := s.lanes[k]
		wg.Go(func() {
			for i := k; i < B; i += nl {
				s.stepPair(ln, dst, batch, i, invB, true)
			}
		})
	}
	wg.Wait()
	<-s.turn[B]
}

// stepPair computes pair i of batch on lane ln and adds it to dst, the
// batch sums and the gate gradient. With ordered, it waits for pair i's turn
// before adding and then passes the turn on (s.turn), so that pairs are added
// in batch order whatever lane runs them.
func (s *Stepper[F]) stepPair(ln *lane[F], dst []F, batch []Pair, i int, invB float64, ordered bool) {
	p, row := &batch[i], &s.rows[i]
	fused := !s.cfg.Normalize // (cw, cl) are known before the dots: one pass
	r, err := s.pairGrads(ln, p, row, !fused)
	if err == nil && len(s.agw) > 0 {
		np := len(s.agw)
		for k := range np {
			attribDots(s.adots[4*(i*np+k):4*(i*np+k+1)], s.agw[k], s.agl[k], ln.gw, ln.gl)
		}
	}
	if ordered {
		<-s.turn[i]
	}
	if err == nil {
		if fused {
			pairPass(dst, s.sw, s.sl, ln.gw, ln.gl, -r.DW*invB, r.DL*invB, s.ranges, ln.gd, true, ln.acc)
			err = s.finishRow(ln, p, row, r)
		} else {
			pairPass(dst, s.sw, s.sl, ln.gw, ln.gl, -row.CW*invB, row.CL*invB, s.ranges, nil, false, ln.acc)
		}
		if err == nil && s.cfg.Sparse == "learned" {
			s.gateGrads(ln, r, invB)
		}
	}
	s.res[i], s.errs[i] = r, err
	if ordered {
		s.turn[i+1] <- struct{}{}
	}
}

// gateGrads adds the current pair's contribution (scaled by invB) to the
// gate gradient:
//
//	∂ℓ/∂m_t = −d_w·lp_t + λ/n  (chosen tokens),  +d_l·lp_t + λ/n  (rejected),  n = |y_w| + |y_l|
//	∂m_t/∂u = m_t(1 − m_t)·h_t,  ∂m_t/∂b = m_t(1 − m_t)
func (s *Stepper[F]) gateGrads(ln *lane[F], r loss.Result, invB float64) {
	C := s.m.Cfg.C
	n := float64(len(ln.w.q) + len(ln.l.q))
	for k, sd := range []*side{&ln.w, &ln.l} {
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
