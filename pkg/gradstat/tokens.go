package gradstat

import (
	"fmt"
	"sort"

	"entangle/pkg/entangle"
)

// TokenColumns are the columns of the tokens table: the chosen × rejected
// cosine matrix entries of the per-token gradients of grads.arrows, and one
// summary row (i = j = −1) per run, step, kind and pair.
var TokenColumns = cols(runCols, []Column{
	{"pair", Int, "example id"},
	{"estimate", Bool, "true for sketched gradients"},
	{"i", Int, "chosen response token index (−1 on the summary row)"},
	{"j", Int, "rejected response token index (−1 on the summary row)"},
	{"token_w", String, "chosen token string (vocab metadata; null on summary rows)"},
	{"token_l", String, "rejected token string"},
	{"contrastive_w", Bool, "chosen token i is contrastive"},
	{"contrastive_l", Bool, "rejected token j is contrastive"},
	{"cos", Float, "cosine of the per-token gradients ∇log π(y_w,i) and ∇log π(y_l,j)"},
	{"contrastive_mean", Float, "summary: mean cos over contrastive×contrastive entries"},
	{"contrastive_n", Int, "summary: entries in that mean"},
	{"aligned_shared_mean", Float, "summary: mean cos over end-aligned shared token pairs"},
	{"aligned_shared_n", Int, "summary: entries in that mean"},
	{"other_mean", Float, "summary: mean cos over every other entry"},
	{"other_n", Int, "summary: entries in that mean"},
})

// TokenMatrix is the chosen × rejected cosine matrix of the per-token
// gradients of one pair at one step (paper §4.2), tokens in response order.
type TokenMatrix struct {
	Kind string
	Pair int64
	// I and J are the chosen and rejected token indices of the rows and
	// columns, Chosen and Rejected their strings, CW and CL their
	// contrastive flags.
	I, J             []int32
	Chosen, Rejected []string
	CW, CL           []bool
	Cos              []float64 // row-major, len(I)·len(J); NaN where undefined
	Summary          entangle.TokenSummary
}

// tokenMatrices computes the per-token cosine matrices of the step into
// e.toks, one per (kind, pair) with per-token rows on both sides, in order
// of first appearance (only the pairs Options.TokenPair accepts).
func (e *Engine) tokenMatrices(d *StepData) error {
	type key struct {
		kind string
		pair int64
	}
	var order []key
	rows := map[key]*[2][]int{}
	for i := range d.Grads {
		g := &d.Grads[i]
		if g.Token < 0 {
			continue
		}
		k := key{g.Kind, g.Pair}
		r, ok := rows[k]
		if !ok {
			r = &[2][]int{}
			rows[k] = r
			order = append(order, k)
		}
		switch g.Side {
		case "chosen":
			r[0] = append(r[0], i)
		case "rejected":
			r[1] = append(r[1], i)
		default:
			return fmt.Errorf("%s pair %d: token row with side %q", g.Kind, g.Pair, g.Side)
		}
	}
	for _, k := range order {
		if e.opt.TokenPair != nil && !e.opt.TokenPair(k.kind, k.pair) {
			continue
		}
		r := rows[k]
		where := loc{kind: k.kind, pair: k.pair}
		if len(r[0]) == 0 || len(r[1]) == 0 {
			e.warn(d.Step, where, "per-token gradients for one side only")
			continue
		}
		for s := 0; s < 2; s++ {
			sort.SliceStable(r[s], func(a, c int) bool { return d.Grads[r[s][a]].Token < d.Grads[r[s][c]].Token })
		}
		nW, nL := len(r[0]), len(r[1])
		P := len(d.Grads[r[0][0]].Grad)
		need := (nW + nL) * P
		if cap(e.tokBuf) < need {
			e.tokBuf = make([]float32, need)
		}
		buf := e.tokBuf[:need]
		m := TokenMatrix{Kind: k.kind, Pair: k.pair}
		for s, side := range r {
			for t, i := range side {
				g := &d.Grads[i]
				off := t * P
				if s == 1 {
					off += nW * P
				}
				copy(buf[off:off+P], g.Grad)
				if g.Contrastive < 0 {
					e.warn(d.Step, where, "token %d: contrastive flag is null (counted as shared)", g.Token)
				}
				if s == 0 {
					m.I, m.Chosen, m.CW = append(m.I, g.Token), append(m.Chosen, e.tokenString(g.TokenID)), append(m.CW, g.Contrastive == 1)
				} else {
					m.J, m.Rejected, m.CL = append(m.J, g.Token), append(m.Rejected, e.tokenString(g.TokenID)), append(m.CL, g.Contrastive == 1)
				}
			}
		}
		m.Cos = make([]float64, nW*nL)
		entangle.CosineMatrix(m.Cos, buf[:nW*P], buf[nW*P:], nW, nL, P)
		m.Summary = entangle.TokenSummarize(m.Cos, nW, nL, m.CW, m.CL, nil)
		if m.Summary.NaN > 0 {
			e.warn(d.Step, where, "%d token cosines undefined (zero-norm or non-finite per-token gradients)", m.Summary.NaN)
		}
		e.toks = append(e.toks, m)
	}
	return nil
}

// tokenRows writes the tokens table's rows of a step: every entry of each
// matrix, then its summary row (i = j = −1).
func (e *Engine) tokenRows(d *StepData) {
	est := e.sketched()
	for mi := range e.toks {
		m := &e.toks[mi]
		nL := len(m.J)
		for i := range m.I {
			for j := range m.J {
				b := e.row(d.Step, m.Kind)
				b.Int("pair", m.Pair)
				b.Bool("estimate", est)
				b.Int("i", int64(m.I[i]))
				b.Int("j", int64(m.J[j]))
				b.Str("token_w", m.Chosen[i])
				b.Str("token_l", m.Rejected[j])
				b.Bool("contrastive_w", m.CW[i])
				b.Bool("contrastive_l", m.CL[j])
				b.Float("cos", m.Cos[i*nL+j])
				b.End()
			}
		}
		ts := &m.Summary
		b := e.row(d.Step, m.Kind)
		b.Int("pair", m.Pair)
		b.Bool("estimate", est)
		b.Int("i", -1)
		b.Int("j", -1)
		b.Float("contrastive_mean", ts.ContrastiveMean)
		b.Int("contrastive_n", int64(ts.ContrastiveN))
		b.Float("aligned_shared_mean", ts.AlignedSharedMean)
		b.Int("aligned_shared_n", int64(ts.AlignedSharedN))
		b.Float("other_mean", ts.OtherMean)
		b.Int("other_n", int64(ts.OtherN))
		b.End()
	}
}

func (e *Engine) tokenString(id int32) string {
	if id >= 0 && int(id) < len(e.run.Vocab) {
		return e.run.Vocab[id]
	}
	return fmt.Sprintf("<%d>", id)
}
