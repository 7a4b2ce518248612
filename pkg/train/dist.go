package train

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
)

// ModeDist is train's -mode dist: no training, the next-token distributions
// of a checkpoint at every response position (NextTokenDists).
const ModeDist = "dist"

// TokenProb is one token of a next-token distribution and its probability.
type TokenProb struct {
	Token int32
	P     float64
}

// DistRow is the next-token distribution of one response position: where the
// probability mass of the position is, beyond the log-prob of the response's
// own token that training sees.
type DistRow struct {
	Pair        int64
	Side        string // "chosen" or "rejected"
	Pos         int    // index in the response (0 = its first token)
	Token       int32  // the response's token at Pos
	Contrastive bool   // Token differs from the other response's (prefdata flags)
	Logp        float64
	// Other is the other response's token at Pos (-1 when it is shorter) and
	// OtherLogp its log-probability in this response's context (NaN if none).
	Other     int32
	OtherLogp float64
	// Top holds the K most probable tokens, most probable first (ties: the
	// lower id first).
	Top []TokenProb
	// Entropy is the entropy of the whole next-token distribution, in nats.
	Entropy float64
}

// entropy returns −Σ_v p_v log p_v = Σ_v p_v (lse − l_v) of the
// distribution p = softmax(l), given lse = log Σ_v exp(l_v), summed in
// float64 in token order.
func entropy(logits []float64, lse float64) float64 {
	var h float64
	for _, l := range logits {
		if p := math.Exp(l - lse); p > 0 {
			h += p * (lse - l)
		}
	}
	return h
}

// NextTokenDists runs the model of c on both responses of each example and
// calls emit once per response position, chosen side first, in example order:
//
//	p(· | x, y_<t) = softmax(h_{t−1} · Hᵀ)
//
// with h the final LayerNorm output and H the LM head (wte when tied),
// accumulated in float64 from the float32 activations. k ≥ 1 tokens are kept
// per position. The row passed to emit is reused by the next call.
func NextTokenDists(c *Checkpoint, exs []prefdata.Example, k int, emit func(*DistRow) error) error {
	if k < 1 {
		return fmt.Errorf("train: dist needs k ≥ 1, got %d", k)
	}
	cfg := c.Model
	m := model.New[float32](cfg)
	copy(m.Params, c.Params)
	head := model.ViewOf(m.Params, cfg, "wte")
	if !cfg.Tied {
		head = model.ViewOf(m.Params, cfg, "lm_head.w")
	}
	ws := m.NewSerialWorkspace()
	V, C := cfg.V, cfg.C
	logits := make([]float64, V)
	order := make([]int32, V)
	row := &DistRow{Top: make([]TokenProb, 0, min(k, V))}
	tokens := make([]int32, 0, cfg.T)
	for i := range exs {
		ex := &exs[i]
		for _, side := range []struct {
			name        string
			resp, other []int32
			contrastive []bool
		}{{"chosen", ex.Chosen, ex.Rejected, ex.ChosenContrastive}, {"rejected", ex.Rejected, ex.Chosen, ex.RejectedContrastive}} {
			tokens = append(append(tokens[:0], ex.Prompt...), side.resp...)
			if len(tokens) > cfg.T {
				return fmt.Errorf("train: pair %d: %s sequence of %d tokens exceeds the model's context %d", ex.ID, side.name, len(tokens), cfg.T)
			}
			for _, t := range tokens {
				if int(t) >= V || t < 0 {
					return fmt.Errorf("train: pair %d: token %d is outside the model's vocabulary of %d", ex.ID, t, V)
				}
			}
			ws.Forward(tokens, len(ex.Prompt))
			hid := ws.Hidden()
			for pos, tok := range side.resp {
				h := hid[(len(ex.Prompt)+pos-1)*C : (len(ex.Prompt)+pos)*C]
				mx := math.Inf(-1)
				for v := range V {
					w := head[v*C : (v+1)*C]
					var s float64
					for c, x := range h {
						s += float64(x) * float64(w[c])
					}
					logits[v] = s
					mx = max(mx, s)
				}
				var z float64
				for _, l := range logits {
					z += math.Exp(l - mx)
				}
				lse := mx + math.Log(z)
				*row = DistRow{Pair: ex.ID, Side: side.name, Pos: pos, Token: tok,
					Logp: logits[tok] - lse, Other: -1, OtherLogp: math.NaN(), Top: row.Top[:0], Entropy: entropy(logits, lse)}
				if pos < len(side.contrastive) {
					row.Contrastive = side.contrastive[pos]
				}
				if pos < len(side.other) {
					row.Other = side.other[pos]
					row.OtherLogp = logits[row.Other] - lse
				}
				for v := range order {
					order[v] = int32(v)
				}
				slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(logits[b], logits[a]) })
				for _, v := range order[:min(k, V)] {
					row.Top = append(row.Top, TokenProb{Token: v, P: math.Exp(logits[v] - lse)})
				}
				if err := emit(row); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
