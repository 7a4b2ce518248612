package pref

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"entangle/pkg/entangle"
	"entangle/pkg/loss"
	"entangle/pkg/model"
)

// lane is one worker of Grad: a workspace, the two sides of its current pair
// and the pair's gradients. The Stepper's own lane (main) also serves
// MeanLoss, probes and dumps.
type lane[F model.Float] struct {
	ws     *model.Workspace[F]
	w, l   side
	gw, gl []F // ∇z_w, ∇z_l of the current pair
	dlogp  []F
	gd     []entangle.GroupDot
	acc    *[48]float64        // pairPass's float64 lanes (gemm.PairBlock)
	aw, al []F                 // adapter gradients of the pair (SetLoRA)
	agd    []entangle.GroupDot // their dots per adapter group

	// The untied input embedding (Stepper.embGroup): the rows of gw and gl
	// that may be non-zero (backwardSet), and the pass's blocks of it that
	// the pair touches (zb.pair, markPair).
	gwRows, glRows *embRows
	zb             zeroBlocks
}

// embRows is what a gradient buffer's untied input-embedding range holds:
// with ok, zeros outside the rows of tok (the tokens of its last backward),
// so that the next backward need clear only those (model's
// BackwardSetRows); without, anything.
type embRows struct {
	tok []int32
	ok  bool
}

// newLane returns a lane on ws. With gw == nil it allocates the gradient
// buffers (one value per model parameter); from is the lane whose gw, gl
// it shares (with their row records), nil for buffers fresh from make.
func newLane[F model.Float](m *model.Model[F], ws *model.Workspace[F], gw, gl []F, groups int, from *lane[F]) *lane[F] {
	n, T, C := len(m.Params), m.Cfg.T, m.Cfg.C
	if gw == nil {
		gw, gl = make([]F, n), make([]F, n)
	}
	ln := &lane[F]{ws: ws, gw: gw, gl: gl, dlogp: make([]F, T), gd: make([]entangle.GroupDot, groups), acc: new([48]float64),
		gwRows: &embRows{ok: true}, glRows: &embRows{ok: true}, zb: zeroBlocks{g: -1}}
	if from != nil {
		ln.gwRows, ln.glRows = from.gwRows, from.glRows
	}
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
	n      int              // parameters
	groups []entangle.Range // the parameter groups (model.Tensors)

	weights tokenWeights[F] // q_t of the sparse mode
	gate    *gate           // the learned gate (also when the mode does not use it)

	main   *lane[F]   // MeanLoss, probes, dumps, and Grad on one lane
	lanes  []*lane[F] // Grad's lanes (serial kernels); lanes[0] shares main's gradient buffers
	sw, sl []F        // Σ over pairs of g_w, g_l (allocated by the first Grad)
	fold   batchFold  // the first and last pair's extra work in their pass (pairPassFold)
	rows   []PairStats
	res    []loss.Result    // per pair, of the last Grad
	errs   []error          // per pair, of the last Grad
	turn   []chan struct{}  // turn[i]: pair i may be added to the sums
	bar    [2]chan struct{} // the two lanes' barrier of runCouples
	cpl    [2]couplePair[F] // the couple of runCouples
	blk    []float64        // coupleHalf's block sums
	zb     zeroBlocks       // the batch's blocks of the untied input embedding (clearEmbedding)
	zbOK   bool             // sw and sl are zero outside zb.batch's blocks
	kl     float64
	probes probeState[F]

	// Attribution (SetAttribution): the probe gradients, and per pair of the
	// last Grad the 4 dots with each probe, [pair][probe][ww, wl, lw, ll].
	agw, agl [][]F
	adots    []float64
	arows    []AttribDots

	step stepState[F] // Step's buffers

	lora       *model.LoRA[F]   // SetLoRA
	only       *model.LoRA[F]   // SetLoRAOnly: the parameters are these adapters'
	loraGroups []entangle.Range // the adapter groups (lora.go)
}

// NewStepper returns a Stepper for m. It panics on an invalid Config
// (programmer error: the trainer validates flags). It holds one lane's
// g_w and g_l; the batch sums Σg_w, Σg_l and Grad's other lanes are
// allocated by the first Grad, so that a Stepper that only evaluates
// (Evaluate, Probe) holds 2·NumParams values, not 4.
func NewStepper[F model.Float](m *model.Model[F], cfg Config) *Stepper[F] {
	if cfg.Loss == nil {
		panic("pref: Config.Loss is nil")
	}
	if cfg.Sparse > SparseLearned {
		panic(fmt.Sprintf("pref: unknown %v", cfg.Sparse))
	}
	if cfg.SparseLambda < 0 || cfg.GateLR < 0 {
		panic("pref: SparseLambda and GateLR must be ≥ 0")
	}
	n := len(m.Params)
	s := &Stepper[F]{m: m, cfg: cfg, n: n, groups: Groups(m.Cfg)}
	s.main = newLane(m, m.NewWorkspace(), nil, nil, len(s.groups), nil)
	s.gate = newGate(m.Cfg.C)
	switch cfg.Sparse {
	case SparseNone:
		s.weights = ones[F]{}
	case SparseOracle:
		s.weights = oracle[F]{}
	case SparseLearned:
		s.weights = learned[F]{s.gate}
	}
	return s
}

// Groups returns the parameter groups of a model config: the model.Tensors
// table as ranges of the flat parameter vector.
func Groups(cfg model.Config) []entangle.Range {
	var gs []entangle.Range
	for _, t := range model.Tensors(cfg) {
		gs = append(gs, entangle.Range{Name: t.Name, Off: t.Offset, Len: t.Size})
	}
	return gs
}

// growRows returns rows for b pairs, reusing the list buffers.
func growRows(rows []PairStats, b, g, c int) []PairStats {
	for len(rows) < b {
		rows = append(rows, PairStats{DotG: make([]float64, g), WWG: make([]float64, g), LLG: make([]float64, g),
			HidW: make([]float32, c), HidL: make([]float32, c)})
	}
	return rows[:b]
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
// Pairs run concurrently on GradLanes lanes (at most min(GOMAXPROCS, B, 4),
// fewer for models whose lane buffers would exceed PairLaneBudget; pair i on
// lane i mod lanes, serial kernels), but each pair is added to dst and to the
// batch sums in batch order, in one pass that also computes its dots
// (pairPass), so the result does not depend on the number of lanes: every
// pair's values are computed by one goroutine in a fixed order. It returns
// the statistics of every pair (views valid until the next Grad) and of the
// batch. A non-finite loss or gradient is an error naming the first such
// pair; dst is then unspecified. With SparseLearned it also computes the
// gate's gradient (GateGrad) and, if GateLR > 0, takes one SGD step on it.
func (s *Stepper[F]) Grad(dst []F, batch []Pair) ([]PairStats, BatchStats, error) {
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
	s.rows = growRows(s.rows, B, s.numGroups(), s.m.Cfg.C)
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
	// dst, sw and sl are cleared block by block in the first pair's pass
	// (the untied input embedding's range in clearEmbedding)
	if len(s.sw) != s.n {
		s.sw, s.sl = make([]F, s.n), make([]F, s.n)
		s.zbOK = false
	}
	s.fold = batchFold{First: true}
	s.clearEmbedding(dst, batch)
	s.gate.clearGrad()
	s.batchKL(batch)

	nl := GradLanes(s.n, int(unsafe.Sizeof(F(0))), B)
	if nl == 1 {
		for i := range batch {
			s.stepPair(s.main, dst, batch, i, invB, false)
		}
	} else {
		s.runLanes(nl, dst, batch, invB)
	}
	for i := range batch {
		if s.errs[i] != nil {
			return nil, BatchStats{KL: s.kl}, s.errs[i]
		}
	}
	st := s.batchStats(B)
	s.attribRows(batch)
	if s.cfg.Sparse == SparseLearned {
		s.gate.step(s.cfg.GateLR)
	}
	return s.rows, st, nil
}

// batchStats returns the statistics of the B pairs of the last Grad: means
// over the pairs (summed in batch order) and the inner products of the
// batch-mean gradients ḡ_w = (1/B)Σ g_w,i, ḡ_l, which the last pair's pass
// took from the sums sw, sl (batchFold: float64 block sums added in index
// order with Neumaier's compensation).
func (s *Stepper[F]) batchStats(B int) BatchStats {
	invB := 1 / float64(B)
	beta := s.cfg.Beta
	if beta == 0 {
		beta = 1
	}
	st := BatchStats{KL: s.kl}
	for i := range B {
		row, r := &s.rows[i], s.res[i]
		st.Loss += r.Loss
		st.Margin += r.Margin
		st.LogpW += row.LogpW
		st.LogpL += row.LogpL
		st.LogpWTok += row.LogpW / float64(row.LenW)
		st.LogpLTok += row.LogpL / float64(row.LenL)
		rw, rl := beta*(row.LogpW-row.RefW), beta*(row.LogpL-row.RefL)
		st.RewardsW += rw
		st.RewardsL += rl
		st.RewardsMargins += rw - rl
		if rw > rl {
			st.RewardsAccuracies++
		}
		st.CosMean += row.Dot / math.Sqrt(row.WW*row.LL)
	}
	for _, p := range []*float64{&st.Loss, &st.Margin, &st.LogpW, &st.LogpL, &st.LogpWTok,
		&st.LogpLTok, &st.RewardsW, &st.RewardsL, &st.RewardsMargins, &st.RewardsAccuracies, &st.CosMean} {
		*p *= invB
	}
	// the last pair's pass took the dots of the sums (s.fold)
	d, ww, ll := s.fold.D, s.fold.WW, s.fold.LL
	st.BatchDot, st.BatchWW, st.BatchLL = d*invB*invB, ww*invB*invB, ll*invB*invB
	return st
}

// runLanes runs the pairs of batch on nl goroutines (pair i on lane i mod
// nl), each adding its pairs to the sums in turn.
func (s *Stepper[F]) runLanes(nl int, dst []F, batch []Pair, invB float64) {
	for len(s.lanes) < nl {
		gw, gl, from := s.main.gw, s.main.gl, s.main
		if len(s.lanes) > 0 {
			gw, gl, from = make([]F, s.n), make([]F, s.n), nil
		}
		s.lanes = append(s.lanes, newLane(s.m, s.m.NewSerialWorkspace(), gw, gl, len(s.groups), from))
	}
	if nl == 2 {
		s.runCouples(dst, batch, invB)
		return
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
	r, err := s.pairGradsAttrib(ln, batch, i)
	if ordered {
		<-s.turn[i]
	}
	if err == nil {
		// pairs pass in batch order (their turn): the first to pass clears
		// the sums, the last takes their statistics
		s.fold.Last = i == len(batch)-1
		if fused {
			pairPassFold(dst, s.sw, s.sl, ln.gw, ln.gl, -r.DW*invB, r.DL*invB, s.groups, ln.gd, true, ln.acc, &s.fold, s.laneZero(ln))
			err = s.finishRow(ln, p, row, r)
		} else {
			pairPassFold(dst, s.sw, s.sl, ln.gw, ln.gl, -row.CW*invB, row.CL*invB, s.groups, nil, false, ln.acc, &s.fold, s.laneZero(ln))
		}
		s.fold.First = false
		if err == nil && s.cfg.Sparse == SparseLearned {
			s.gate.addGrad(&ln.w, &ln.l, r, s.cfg.SparseLambda, invB, s.m.Cfg.C)
		}
	}
	s.res[i], s.errs[i] = r, err
	if ordered {
		s.turn[i+1] <- struct{}{}
	}
}

// Config returns the Stepper's configuration.
func (s *Stepper[F]) Config() Config { return s.cfg }

// pairGradsAttrib computes pair i's gradients on lane ln (pairGrads, with
// the dots when the pass will not take them) and its attribution dots.
func (s *Stepper[F]) pairGradsAttrib(ln *lane[F], batch []Pair, i int) (loss.Result, error) {
	r, err := s.pairGrads(ln, &batch[i], &s.rows[i], s.cfg.Normalize)
	if err == nil && len(s.agw) > 0 {
		np := len(s.agw)
		for k := range np {
			attribDots(s.adots[4*(i*np+k):4*(i*np+k+1)], s.agw[k], s.agl[k], ln.gw, ln.gl)
		}
	}
	return r, err
}

// runCouples is runLanes on two lanes: lane h computes pair i0+h of every
// couple i0, i0+1 (i0 even), and once both pairs' gradients are ready the
// two lanes add them to dst and the batch sums in one couple pass
// (coupleHalf: dst, sw and sl are read and written once per two pairs),
// each lane over half of the blocks; then lane 0 adds the block sums in
// index order (coupleCombine) and finishes both rows in batch order. An
// odd batch's last pair passes alone. The bits equal stepPair's one pair
// after the other (the same block values, added in the same order).
func (s *Stepper[F]) runCouples(dst []F, batch []Pair, invB float64) {
	B := len(batch)
	if s.bar[0] == nil {
		s.bar = [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}
	}
	nb := passBlocks(s.groups)
	if len(s.blk) < 9*nb {
		s.blk = make([]float64, 9*nb)
	}
	wait := func(h int) { // both lanes reach this point before either goes on
		s.bar[1-h] <- struct{}{}
		<-s.bar[h]
	}
	var wg sync.WaitGroup
	for h := range 2 {
		ln := s.lanes[h]
		wg.Go(func() {
			for i0 := 0; i0 < B; i0 += 2 {
				if i0+1 == B {
					if h == 0 {
						s.stepPair(ln, dst, batch, i0, invB, false)
					}
					return
				}
				i := i0 + h
				s.res[i], s.errs[i] = s.pairGradsAttrib(ln, batch, i)
				wait(h)
				if h == 0 {
					s.setCouple(i0, invB)
				}
				wait(h)
				c := &s.cpl
				if c[0].on || c[1].on {
					last := i0+1 == B-1
					coupleHalf(dst, s.sw, s.sl, c, s.groups, s.fold.First, last, h*nb/2, (h+1)*nb/2, s.blk, ln.acc, s.batchZero())
				}
				wait(h)
				if h == 0 {
					s.finishCouple(batch, i0, invB)
				}
				wait(h)
			}
		})
	}
	wg.Wait()
}

// setCouple fills s.cpl with pairs i0 and i0+1 (lanes 0 and 1).
func (s *Stepper[F]) setCouple(i0 int, invB float64) {
	fused := !s.cfg.Normalize
	for q := range 2 {
		i, ln := i0+q, s.lanes[q]
		r, row := s.res[i], &s.rows[i]
		a, c := -r.DW*invB, r.DL*invB
		if !fused {
			a, c = -row.CW*invB, row.CL*invB
		}
		s.cpl[q] = couplePair[F]{gw: ln.gw, gl: ln.gl, a: a, c: c, on: s.errs[i] == nil, dots: fused, gd: ln.gd, touched: ln.zb.pair}
	}
}

// finishCouple completes pairs i0 and i0+1 after their couple pass: the
// dots, the rows (fused) and the gate gradient, in batch order.
func (s *Stepper[F]) finishCouple(batch []Pair, i0 int, invB float64) {
	c := &s.cpl
	if !c[0].on && !c[1].on {
		return
	}
	coupleCombine(c, s.groups, i0+1 == len(batch)-1, s.blk, &s.fold)
	s.fold.First = false
	for q := range 2 {
		i, ln := i0+q, s.lanes[q]
		if s.errs[i] != nil {
			continue
		}
		if !s.cfg.Normalize {
			s.errs[i] = s.finishRow(ln, &batch[i], &s.rows[i], s.res[i])
		}
		if s.errs[i] == nil && s.cfg.Sparse == SparseLearned {
			s.gate.addGrad(&ln.w, &ln.l, s.res[i], s.cfg.SparseLambda, invB, s.m.Cfg.C)
		}
	}
}

// denseEmbedding turns the row sparsity of the untied input embedding off
// (tests compare the two).
var denseEmbedding = false

// embGroup returns the index in s.groups of the untied input embedding
// (wte of a model whose LM head is a tensor of its own), whose gradient a
// sequence touches only in the rows of its tokens, or -1: tied (wte's
// gradient is the head's, dense), the adapters-only space, or a range of
// one block.
func (s *Stepper[F]) embGroup() int {
	if denseEmbedding || s.only != nil || s.m.Cfg.Tied || len(s.groups) == 0 || s.groups[0].Name != "wte" ||
		s.groups[0].Len <= passBlock {
		return -1
	}
	return 0
}

// markPair sets marks[k] for the blocks k (of passBlock elements from the
// range's start) of the untied input embedding that hold a row of a token
// of pair p (prompt, chosen or rejected; rows of C values), and clears the
// others.
func (s *Stepper[F]) markPair(marks []bool, p *Pair, keep bool) {
	if !keep {
		clear(marks)
	}
	C := s.m.Cfg.C
	for _, seq := range [][]int32{p.Ex.Prompt, p.Ex.Chosen, p.Ex.Rejected} {
		for _, t := range seq {
			for k := int(t) * C / passBlock; k <= (int(t+1)*C-1)/passBlock; k++ {
				marks[k] = true
			}
		}
	}
}

// laneZero returns the zero blocks of lane ln's current pair for the pass
// (markPair ran in pairGrads), nil when no range is skipped.
func (s *Stepper[F]) laneZero(ln *lane[F]) *zeroBlocks {
	if ln.zb.g < 0 {
		return nil
	}
	ln.zb.batch = s.zb.batch
	return &ln.zb
}

// batchZero returns the batch's zero blocks for coupleHalf, nil when no
// range is skipped.
func (s *Stepper[F]) batchZero() *zeroBlocks {
	if s.zb.g < 0 {
		return nil
	}
	return &s.zb
}

// clearEmbedding prepares the row sparsity of the untied input embedding
// for a Grad of batch (zeroBlocks): it clears that range of dst, clears the
// blocks of sw and sl that the previous batch touched (the others are zero;
// all of them the first time) and marks the blocks this batch touches
// (s.zb.batch). The passes then skip the blocks of that range a pair does
// not touch, instead of clearing them in the first pair's pass and adding
// zeros to them in every pair's.
func (s *Stepper[F]) clearEmbedding(dst []F, batch []Pair) {
	g := s.embGroup()
	s.zb.g = g
	if g < 0 {
		s.zbOK = false // the dense passes write every block of sw and sl
		return
	}
	r := s.groups[g]
	nb := (r.Len + passBlock - 1) / passBlock
	clear(dst[r.Off : r.Off+r.Len])
	if !s.zbOK || len(s.zb.batch) != nb {
		clear(s.sw[r.Off : r.Off+r.Len])
		clear(s.sl[r.Off : r.Off+r.Len])
		s.zb.batch = make([]bool, nb)
	}
	for k, on := range s.zb.batch {
		if on {
			off := r.Off + k*passBlock
			end := min(off+passBlock, r.Off+r.Len)
			clear(s.sw[off:end])
			clear(s.sl[off:end])
		}
	}
	clear(s.zb.batch)
	for i := range batch {
		s.markPair(s.zb.batch, &batch[i], true)
	}
	s.zbOK = true
}
