package train

import (
	"fmt"
	"math"
	"sync"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
	"entangle/pkg/runfmt"
)

// lanes runs per-sequence work on model.Lanes logical lanes: sequence i
// always goes to lane i mod Lanes and each lane handles its sequences in
// order. The lanes run n at a time (n ≤ Lanes workers, each with its own
// workspace and gradient buffer: Lanes(cfg) caps n by the memory estimate),
// and a backward pass adds each lane's gradient into the destination in lane
// order, the sum reduceTo once took over Lanes buffers, so neither n nor
// GOMAXPROCS changes a bit. Per-sequence statistics are stored by index and
// summed in index order by the caller. (model.AccumulateGrads does the same
// on Lanes buffers, but does not return the log-probs and hidden states the
// SFT metrics need.)
type lanes struct {
	m    *model.Model[float32]
	ws   []*model.Workspace[float32] // (n) per-worker workspace
	grad [][]float32                 // (n) per-worker gradient, nil until a backward is asked
	lora *model.LoRA[float32]        // -lora-grad adapters: the gradients are these adapters' (not P values)
}

// newLanes returns n workers (1 ≤ n ≤ model.Lanes).
func newLanes(m *model.Model[float32], n int) *lanes {
	n = max(1, min(n, model.Lanes))
	l := &lanes{m: m, ws: make([]*model.Workspace[float32], n), grad: make([][]float32, n)}
	for k := range n {
		l.ws[k] = m.NewWorkspace()
	}
	return l
}

// run calls fn(i, ws, grad) for i = 0..count-1 on lane i mod Lanes, the
// lanes len(l.ws) at a time (lane k on worker k mod len(l.ws)). With dst not
// nil it is a backward pass: every lane's gradient buffer starts at zero and
// is added into dst, lane after lane,
//
//	dst[j] = ((0 + g_0[j]) + g_1[j]) + … + g_{Lanes−1}[j]   (float32, lane order)
//
// Lanes without sequences are skipped: adding their zero changes nothing (a
// round-to-nearest sum that starts at +0 is never −0).
func (l *lanes) run(count int, dst []float32, fn func(i int, ws *model.Workspace[float32], grad []float32)) {
	if dst != nil {
		clear(dst)
	}
	n := len(l.ws)
	used := min(count, model.Lanes)
	for first := 0; first < used; first += n {
		var wg sync.WaitGroup
		for k := first; k < min(first+n, used); k++ {
			w := k - first
			if dst != nil {
				if len(l.grad[w]) != l.gradLen() {
					l.grad[w] = make([]float32, l.gradLen())
				}
				clear(l.grad[w])
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := k; i < count; i += model.Lanes {
					fn(i, l.ws[w], l.grad[w])
				}
			}()
		}
		wg.Wait()
		if dst != nil {
			for k := first; k < min(first+n, used); k++ {
				g := l.grad[k-first]
				for j := range dst {
					dst[j] += g[j]
				}
			}
		}
	}
}

// gradLen is the length of the lanes' gradients.
func (l *lanes) gradLen() int {
	if l.lora != nil {
		return len(l.lora.Params)
	}
	return len(l.m.Params)
}

// seqStats is what one sequence's forward pass yields.
type seqStats struct {
	logp    float64 // Σ_j lp[j], summed in float64
	correct int     // response tokens whose argmax is the target
	n       int     // response tokens
}

// forwardStats runs ws.Forward on s and returns its log-prob sum and, when
// acc is set, the number of response tokens the model predicts exactly
// (argmax of the logits = target; ties count as wrong only when another token
// is strictly larger).
func forwardStats(ws *model.Workspace[float32], m *model.Model[float32], s model.Seq, acc bool) (seqStats, []float32) {
	lp := ws.Forward(s.Tokens, s.RespStart)
	st := seqStats{n: len(lp)}
	for _, x := range lp {
		st.logp += float64(x)
	}
	if acc {
		st.correct = argmaxHits(ws.Hidden(), headOf(m), s, m.Cfg.C)
	}
	return st, lp
}

// headOf returns the LM head's weights, (V, C): wte when tied.
func headOf(m *model.Model[float32]) []float32 {
	if m.Cfg.Tied {
		return m.View("wte")
	}
	return m.View("lm_head.w")
}

// argmaxHits counts the response tokens whose logit, recomputed from the
// final hidden state h (n, C) and the head W (V, C), is the largest:
//
//	logits[t][v] = Σ_c h[t][c]·W[v][c],  hit ⇔ max_v logits[t-1][v] ≤ logits[t-1][tokens[t]]
func argmaxHits(h, W []float32, s model.Seq, C int) int {
	V := len(W) / C
	hits := 0
	for t := s.RespStart; t < len(s.Tokens); t++ {
		h_t := h[(t-1)*C : t*C] // the position that predicts tokens[t]
		target := int(s.Tokens[t])
		best := math.Inf(-1)
		var tl float64
		for v := range V {
			w_v := W[v*C : (v+1)*C]
			var z float64
			for c, x := range h_t {
				z += float64(x) * float64(w_v[c])
			}
			if v == target {
				tl = z
			}
			best = max(best, z)
		}
		if tl >= best {
			hits++
		}
	}
	return hits
}

// sftGrad sets grad to the gradient of the batch's mean response-token
// cross-entropy,
//
//	L = −(1/N) Σ_i Σ_j lp_i[j],   N = Σ_i |y_i|
//
// (so every dlogp is −1/N), and returns L and the fraction of response tokens
// whose argmax is the target, both before the update.
func (l *lanes) sftGrad(grad []float32, seqs []model.Seq) (loss, tokAcc float64) {
	N := 0
	maxn := 0
	for _, s := range seqs {
		n := len(s.Tokens) - s.RespStart
		N += n
		maxn = max(maxn, n)
	}
	dl := make([]float32, maxn)
	for j := range dl {
		dl[j] = float32(-1 / float64(N)) // the chain rule starts here: dL/dlp = −1/N
	}
	stats := make([]seqStats, len(seqs))
	l.run(len(seqs), grad, func(i int, ws *model.Workspace[float32], g []float32) {
		st, lp := forwardStats(ws, l.m, seqs[i], true)
		stats[i] = st
		if l.lora != nil {
			l.lora.Backward(ws, g, dl[:len(lp)])
		} else {
			ws.Backward(g, dl[:len(lp)])
		}
	})
	var sum float64
	hits := 0
	for _, st := range stats {
		sum += st.logp
		hits += st.correct
	}
	return -sum / float64(N), float64(hits) / float64(N)
}

// evalResult is a held-out evaluation on the test split.
type evalResult struct {
	Loss     float64 // mean response-token cross-entropy of prompt + chosen (token-weighted)
	TokenAcc float64 // fraction of chosen-response tokens whose argmax is the target
	// Over the test pairs: mean summed and per-token log-probs of each side,
	// the mean of logp_w − logp_l, and the fraction of pairs with logp_w > logp_l
	// (the "eval pref accuracy").
	LogpChosen, LogpRejected       float64
	LogpChosenTok, LogpRejectedTok float64
	Margin, PrefAcc                float64
}

// evaluate runs the model on every test pair (chosen and rejected).
func (l *lanes) evaluate(test []prefdata.Example) evalResult {
	n := len(test)
	stats := make([]seqStats, 2*n) // chosen of pair p at 2p, rejected at 2p+1
	l.run(2*n, nil, func(i int, ws *model.Workspace[float32], _ []float32) {
		e := &test[i/2]
		if i%2 == 0 {
			stats[i], _ = forwardStats(ws, l.m, seqOf(e.Prompt, e.Chosen), true)
		} else {
			stats[i], _ = forwardStats(ws, l.m, seqOf(e.Prompt, e.Rejected), false)
		}
	})
	var r evalResult
	var sum float64
	tokens, hits, wins := 0, 0, 0
	for p := range n {
		w, ll := stats[2*p], stats[2*p+1]
		sum += w.logp
		tokens += w.n
		hits += w.correct
		r.LogpChosen += w.logp
		r.LogpRejected += ll.logp
		r.LogpChosenTok += w.logp / float64(w.n)
		r.LogpRejectedTok += ll.logp / float64(ll.n)
		r.Margin += w.logp - ll.logp
		if w.logp > ll.logp {
			wins++
		}
	}
	r.Loss = -sum / float64(tokens)
	r.TokenAcc = float64(hits) / float64(tokens)
	fn := float64(n)
	r.LogpChosen /= fn
	r.LogpRejected /= fn
	r.LogpChosenTok /= fn
	r.LogpRejectedTok /= fn
	r.Margin /= fn
	r.PrefAcc = float64(wins) / fn
	return r
}

// sftMode is -mode sft: the mean response-token cross-entropy of prompt +
// chosen.
type sftMode struct {
	r     *runner
	order Order
	grad  []float32
	seqs  []model.Seq
}

func newSFTMode(r *runner) *sftMode {
	return &sftMode{r: r, order: Order{N: len(r.train), Batch: r.cfg.Batch, Seed: r.cfg.Seed}, grad: make([]float32, r.gradLen())}
}

func (m *sftMode) step(s int) (runfmt.StepRow, string, error) {
	r := m.r
	m.seqs = m.seqs[:0]
	for _, j := range m.order.BatchOf(s) {
		m.seqs = append(m.seqs, sftSeq(&r.train[j]))
	}
	lr := r.sched.LR(s)
	loss, acc := r.ln.sftGrad(m.grad, m.seqs)
	norm := r.apply(m.grad, lr)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return runfmt.StepRow{}, "", fmt.Errorf("step %d: the loss is %v (try a smaller -lr)", s+1, loss)
	}
	row := runfmt.NullStepRow(int64(s+1), runfmt.KindTrain)
	row.LR, row.Loss, row.GradNorm, row.TokenAcc = lr, loss, norm, acc
	return row, fmt.Sprintf("loss %.4f lr %.3g", loss, lr), nil
}

func (m *sftMode) eval(s int) runfmt.StepRow {
	e := m.r.ln.evaluate(m.r.test)
	row := evalRow(s, &e)
	if !m.r.opt.Quiet {
		fmt.Fprintf(m.r.stderr, "eval step %d: loss %.4f token_acc %.4f pref_acc %.4f\n", s, e.Loss, e.TokenAcc, e.PrefAcc)
	}
	return row
}

func (m *sftMode) save(*Checkpoint) {}
func (m *sftMode) close() error     { return nil }
