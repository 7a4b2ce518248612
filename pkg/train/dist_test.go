package train

import (
	"math"
	"strings"
	"testing"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
)

// distModel is a randomly initialized tiny model (untied, so that the LM head
// is not wte) as a checkpoint.
func distModel(t *testing.T, tied bool) *Checkpoint {
	t.Helper()
	cfg := model.Config{V: 11, T: 12, C: 8, L: 1, H: 2, Tied: tied}
	m := model.New[float32](cfg)
	m.Init(3)
	return &Checkpoint{Model: cfg, Params: m.Params}
}

// TestNextTokenDists checks each row against the model's own response
// log-probs (Workspace.Forward), the full distribution (k = V) for
// normalization, order and the response token's place in it, and the other
// response's log-prob against the row of the other side at a shared context.
func TestNextTokenDists(t *testing.T) {
	for _, tied := range []bool{true, false} {
		c := distModel(t, tied)
		ex := prefdata.Example{ID: 7, Prompt: []int32{1, 2, 3}, Chosen: []int32{4, 5, 6}, Rejected: []int32{9, 5}}
		ex.ChosenContrastive, ex.RejectedContrastive = prefdata.PositionalFlags(ex.Chosen, ex.Rejected)
		m := model.New[float32](c.Model)
		copy(m.Params, c.Params)
		ws := m.NewWorkspace()
		want := map[string][]float32{
			"chosen":   append([]float32(nil), ws.Forward([]int32{1, 2, 3, 4, 5, 6}, 3)...),
			"rejected": append([]float32(nil), ws.Forward([]int32{1, 2, 3, 9, 5}, 3)...),
		}
		V := c.Model.V
		var rows []DistRow
		err := NextTokenDists(c, []prefdata.Example{ex}, V, func(r *DistRow) error {
			cp := *r
			cp.Top = append([]TokenProb(nil), r.Top...)
			rows = append(rows, cp)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 5 {
			t.Fatalf("tied %v: %d rows, want 3 chosen + 2 rejected", tied, len(rows))
		}
		for i, r := range rows {
			lp := want[r.Side][r.Pos]
			if math.Abs(r.Logp-float64(lp)) > 1e-5 {
				t.Errorf("tied %v row %d (%s %d): logp %v, model's float32 log-prob %v", tied, i, r.Side, r.Pos, r.Logp, lp)
			}
			var sum float64
			found := false
			for j, tp := range r.Top {
				sum += tp.P
				if j > 0 && tp.P > r.Top[j-1].P {
					t.Errorf("row %d: top not sorted at %d", i, j)
				}
				if tp.Token == r.Token {
					found = true
					if math.Abs(tp.P-math.Exp(r.Logp)) > 1e-12 {
						t.Errorf("row %d: p(token) %v in top, exp(logp) %v", i, tp.P, math.Exp(r.Logp))
					}
				}
			}
			var h float64 // the entropy from the full distribution (k = V)
			for _, tp := range r.Top {
				h -= tp.P * math.Log(tp.P)
			}
			if math.Abs(r.Entropy-h) > 1e-12 || r.Entropy <= 0 || r.Entropy > math.Log(float64(V)) {
				t.Errorf("row %d: entropy %v, −Σ p log p over the full distribution %v (and 0 < H ≤ log V)", i, r.Entropy, h)
			}
			if len(r.Top) != V || !found || math.Abs(sum-1) > 1e-12 {
				t.Errorf("row %d: %d top tokens summing to %v, token found %v; want all %d summing to 1", i, len(r.Top), sum, found, V)
			}
		}
		// Position 0 has the same context (the prompt) on both sides: the
		// chosen row's other log-prob is the rejected row's own, and back.
		ch0, rj0 := rows[0], rows[3]
		if ch0.Side != "chosen" || rj0.Side != "rejected" || rj0.Pos != 0 {
			t.Fatalf("row order: %s %d, %s %d", ch0.Side, ch0.Pos, rj0.Side, rj0.Pos)
		}
		if ch0.Other != 9 || ch0.OtherLogp != rj0.Logp || rj0.OtherLogp != ch0.Logp {
			t.Errorf("position 0: chosen other %d logp %v, rejected logp %v (and back %v vs %v)", ch0.Other, ch0.OtherLogp, rj0.Logp, rj0.OtherLogp, ch0.Logp)
		}
		if !ch0.Contrastive || rows[1].Contrastive || rows[2].Other != -1 || !math.IsNaN(rows[2].OtherLogp) {
			t.Errorf("flags/other: pos0 contrastive %v, pos1 %v, pos2 other %d %v", ch0.Contrastive, rows[1].Contrastive, rows[2].Other, rows[2].OtherLogp)
		}
	}
}

func TestNextTokenDistsErrors(t *testing.T) {
	c := distModel(t, true)
	ok := prefdata.Example{ID: 1, Prompt: []int32{1}, Chosen: []int32{2}, Rejected: []int32{3}}
	long := prefdata.Example{ID: 2, Prompt: make([]int32, 10), Chosen: make([]int32, 5), Rejected: []int32{3}}
	bad := prefdata.Example{ID: 3, Prompt: []int32{1}, Chosen: []int32{11}, Rejected: []int32{3}}
	nop := func(*DistRow) error { return nil }
	for _, tc := range []struct {
		exs  []prefdata.Example
		k    int
		want string
	}{
		{[]prefdata.Example{ok}, 0, "k ≥ 1"},
		{[]prefdata.Example{ok, long}, 3, "pair 2: chosen sequence of 15 tokens exceeds the model's context 12"},
		{[]prefdata.Example{bad}, 3, "pair 3: token 11 is outside the model's vocabulary of 11"},
	} {
		err := NextTokenDists(c, tc.exs, tc.k, nop)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// TestEntropy: logits (0, log 3) are p = (1/4, 3/4), H = log 4 − (3/4) log 3;
// equal logits are the uniform distribution, H = log n; a token with
// probability 0 (logit −∞) adds nothing.
func TestEntropy(t *testing.T) {
	for _, tc := range []struct {
		logits []float64
		want   float64
	}{
		{[]float64{0, math.Log(3)}, math.Log(4) - 0.75*math.Log(3)},
		{[]float64{2, 2, 2, 2, 2}, math.Log(5)},
		{[]float64{1, math.Inf(-1)}, 0},
	} {
		mx := math.Inf(-1)
		for _, l := range tc.logits {
			mx = math.Max(mx, l)
		}
		var z float64
		for _, l := range tc.logits {
			z += math.Exp(l - mx)
		}
		if got := entropy(tc.logits, mx+math.Log(z)); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("entropy(%v) = %v, want %v", tc.logits, got, tc.want)
		}
	}
}
