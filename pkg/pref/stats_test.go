package pref

import (
	"math"
	"math/rand/v2"
	"testing"

	"entangle/pkg/loss"
	"entangle/pkg/model"
)

// seqGrad returns z = Σ_t log π(y_t | x, y_<t) and g = ∇θ z of one
// sequence, by the model's own forward and backward on a fresh workspace
// (dlogp = 1 for every response token): independent of the Stepper's lanes,
// prefix reuse and fused pass.
func seqGrad(m *model.Model[float64], prompt, resp []int32) (float64, []float64) {
	ws := m.NewWorkspace()
	tok := append(append([]int32(nil), prompt...), resp...)
	lp := ws.Forward(tok, len(prompt))
	z := 0.0
	d := make([]float64, len(lp))
	for j, x := range lp {
		z += x
		d[j] = 1
	}
	g := make([]float64, len(m.Params))
	ws.Backward(g, d)
	return z, g
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestBatchStatsValues recomputes every batch statistic of a Step, and the
// per-pair dots, from per-pair gradients computed separately (seqGrad) and
// the loss evaluated on their log-probs, following docs/FORMATS.md:
// means over pairs of the loss, margin, log-probs (summed and per token),
// rewards β(z − ref), their margins and accuracy, cos(g_w, g_l), and the
// inner products of the batch means ḡ_w, ḡ_l. float64 model: the two
// computations differ by summation order only (relative 1e-9).
func TestBatchStatsValues(t *testing.T) {
	for _, c := range []struct {
		loss string
		beta float64
	}{{"dpo", 0.1}, {"ipo", 0.5}, {"simpo", 2}} {
		t.Run(c.loss, func(t *testing.T) {
			m := newModel[float64](21)
			batch := makePairs(rand.New(rand.NewPCG(31, 0)), 6, tinyCfg.V)
			// per-pair values computed separately, and references on both
			// sides of the policy: reward_w > reward_l for 4 of the 6 pairs
			zs := make([][2]float64, len(batch))
			gs := make([][2][]float64, len(batch))
			for i, pr := range batch {
				zw, gw := seqGrad(m, pr.Ex.Prompt, pr.Ex.Chosen)
				zl, gl := seqGrad(m, pr.Ex.Prompt, pr.Ex.Rejected)
				zs[i], gs[i] = [2]float64{zw, zl}, [2][]float64{gw, gl}
				batch[i].RefW = zw + 0.5*float64(1-2*min(i%3, 1)) - 0.03*float64(i) // reward_w > reward_l for i = 1, 2, 4, 5
				batch[i].RefL = zl + 0.07*float64(i)
			}
			p, err := loss.Defaults(c.loss)
			if err != nil {
				t.Fatal(err)
			}
			p.Beta = c.beta
			l, err := loss.New(c.loss, p)
			if err != nil {
				t.Fatal(err)
			}
			s := NewStepper(m, Config{Loss: l, Beta: c.beta})
			dst := make([]float64, len(m.Params))
			res, err := s.Step(dst, batch, nil, func([]float64) {})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Batch

			B := float64(len(batch))
			var want BatchStats
			mw, ml := make([]float64, len(m.Params)), make([]float64, len(m.Params))
			for i, pr := range batch {
				zw, zl, gw, gl := zs[i][0], zs[i][1], gs[i][0], gs[i][1]
				r := l.Eval(loss.Pair{Chosen: zw, Rejected: zl, RefChosen: pr.RefW, RefRejected: pr.RefL,
					LenChosen: len(pr.Ex.Chosen), LenRejected: len(pr.Ex.Rejected)})
				want.Loss += r.Loss / B
				want.Margin += r.Margin / B
				want.LogpW += zw / B
				want.LogpL += zl / B
				want.LogpWTok += zw / float64(len(pr.Ex.Chosen)) / B
				want.LogpLTok += zl / float64(len(pr.Ex.Rejected)) / B
				rw, rl := c.beta*(zw-pr.RefW), c.beta*(zl-pr.RefL)
				want.RewardsW += rw / B
				want.RewardsL += rl / B
				want.RewardsMargins += (rw - rl) / B
				if rw > rl {
					want.RewardsAccuracies += 1 / B
				}
				d, ww, ll := dot(gw, gl), dot(gw, gw), dot(gl, gl)
				want.CosMean += d / math.Sqrt(ww*ll) / B
				for k := range gw {
					mw[k] += gw[k] / B
					ml[k] += gl[k] / B
				}
				ps := res.Pairs[i]
				for _, v := range []struct {
					name      string
					got, want float64
				}{{"logp_w", ps.LogpW, zw}, {"logp_l", ps.LogpL, zl}, {"dot", ps.Dot, d}, {"ww", ps.WW, ww}, {"ll", ps.LL, ll},
					{"dw", ps.DW, r.DW}, {"dl", ps.DL, r.DL}, {"loss", ps.Loss, r.Loss}} {
					if !close9(v.got, v.want) {
						t.Errorf("pair %d %s = %.12g, recomputed %.12g", ps.Pair, v.name, v.got, v.want)
					}
				}
			}
			want.BatchDot, want.BatchWW, want.BatchLL = dot(mw, ml), dot(mw, mw), dot(ml, ml)
			if want.RewardsAccuracies == 0 || want.RewardsAccuracies == 1 {
				t.Fatalf("rewards accuracy %v: the fixture should have pairs on both sides", want.RewardsAccuracies)
			}
			for _, v := range []struct {
				name      string
				got, want float64
			}{
				{"loss", got.Loss, want.Loss}, {"margin", got.Margin, want.Margin},
				{"logp_chosen", got.LogpW, want.LogpW}, {"logp_rejected", got.LogpL, want.LogpL},
				{"logp_chosen_tok", got.LogpWTok, want.LogpWTok}, {"logp_rejected_tok", got.LogpLTok, want.LogpLTok},
				{"rewards_chosen", got.RewardsW, want.RewardsW}, {"rewards_rejected", got.RewardsL, want.RewardsL},
				{"rewards_margins", got.RewardsMargins, want.RewardsMargins},
				{"rewards_accuracies", got.RewardsAccuracies, want.RewardsAccuracies},
				{"cos_mean", got.CosMean, want.CosMean},
				{"batch_dot", got.BatchDot, want.BatchDot}, {"batch_ww", got.BatchWW, want.BatchWW}, {"batch_ll", got.BatchLL, want.BatchLL},
			} {
				if !close9(v.got, v.want) {
					t.Errorf("%s = %.12g, recomputed %.12g", v.name, v.got, v.want)
				}
			}
		})
	}
}

// close9 reports whether a and b agree to a relative 1e-9 (absolute 1e-12
// near 0).
func close9(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(b), 1e-3)
}
