package pref

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"entangle/pkg/model"
)

func tinyLoRA[F model.Float](t *testing.T, m *model.Model[F]) *model.LoRA[F] {
	t.Helper()
	var sites []model.LoRASite
	for _, l := range []string{"0", "1"} {
		sites = append(sites,
			model.LoRASite{Name: "h." + l + ".q", Tensor: "h." + l + ".attn.qkv.w", Out: 8, In: 8},
			model.LoRASite{Name: "h." + l + ".v", Tensor: "h." + l + ".attn.qkv.w", Row0: 16, Out: 8, In: 8})
	}
	a, err := model.NewLoRA(m, 2, 4, sites)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range a.Params {
		a.Params[i] = F(0.5 * rng.NormFloat64())
	}
	a.Merge()
	return a
}

// TestLoRAGroups: with SetLoRA, each pair's group vectors are the model's
// groups (summing to the totals, as before) followed by the adapter groups,
// whose dots are those of LoRA.Grad of the pair's own gradients computed
// apart; the model's groups and totals are unchanged by SetLoRA; results are
// the same bits for 1 and 2 lanes.
func TestLoRAGroups(t *testing.T) {
	m := newModel[float64](6)
	a := tinyLoRA(t, m)
	batch := makePairs(rand.New(rand.NewPCG(13, 0)), 3, tinyCfg.V)
	plain := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	dst0 := make([]float64, len(m.Params))
	rows0, _, err := plain.Grad(dst0, batch)
	if err != nil {
		t.Fatal(err)
	}
	rows0 = slices.Clone(rows0)
	for i := range rows0 {
		rows0[i].DotG = slices.Clone(rows0[i].DotG)
	}
	var got [2][]PairStats
	for k, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
		s.SetLoRA(a)
		dst := make([]float64, len(m.Params))
		rows, _, err := s.Grad(dst, batch)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dst, dst0) {
			t.Fatal("SetLoRA changed the batch gradient")
		}
		got[k] = rows
		G := len(Groups(tinyCfg))
		lg := LoRAGroups(a)
		ws := m.NewWorkspace()
		seqGrad := func(prompt, resp []int32) []float64 {
			lp := ws.Forward(append(slices.Clone(prompt), resp...), len(prompt))
			ones := make([]float64, len(lp))
			for j := range ones {
				ones[j] = 1
			}
			g := make([]float64, len(m.Params))
			ws.BackwardSet(g, ones)
			return g
		}
		for i, r := range rows {
			if len(r.DotG) != G+len(lg) || r.Dot != rows0[i].Dot || !slices.Equal(r.DotG[:G], rows0[i].DotG) {
				t.Fatalf("pair %d: model groups or totals changed", r.Pair)
			}
			aw, al := make([]float64, len(a.Params)), make([]float64, len(a.Params))
			a.Grad(aw, seqGrad(batch[i].Ex.Prompt, batch[i].Ex.Chosen))
			a.Grad(al, seqGrad(batch[i].Ex.Prompt, batch[i].Ex.Rejected))
			for g, rg := range lg {
				x, y := aw[rg.Off:rg.Off+rg.Len], al[rg.Off:rg.Off+rg.Len]
				var d, ww, ll float64
				for j := range x {
					d += x[j] * y[j]
					ww += x[j] * x[j]
					ll += y[j] * y[j]
				}
				for _, c := range [][2]float64{{d, r.DotG[G+g]}, {ww, r.WWG[G+g]}, {ll, r.LLG[G+g]}} {
					if math.Abs(c[0]-c[1]) > 1e-12*(ww+ll) || ww == 0 {
						t.Errorf("pair %d group %s: %.15g, want %.15g", r.Pair, rg.Name, c[1], c[0])
					}
				}
			}
		}
	}
	for i := range got[0] {
		if !slices.Equal(got[0][i].DotG, got[1][i].DotG) || !slices.Equal(got[0][i].LLG, got[1][i].LLG) {
			t.Errorf("pair %d: lanes change the adapter groups", got[0][i].Pair)
		}
	}
}

// TestLoRAOnly: under SetLoRAOnly the pairs' totals and groups are the
// adapter groups of SetLoRA (computed from the full gradients) to rounding,
// the loss the same bits, dst the adapter projection of the full batch
// gradient; the same bits for 1 and 2 lanes; Step with probes and dumps
// works in the adapter space (the first-order prediction of a small SGD
// step on the adapters matches the change of the probes' log-probs); and
// SetLoRA(nil) returns to all parameters with the plain Stepper's bits.
func TestLoRAOnly(t *testing.T) {
	m := newModel[float64](6)
	a := tinyLoRA(t, m)
	batch := makePairs(rand.New(rand.NewPCG(14, 0)), 3, tinyCfg.V)
	full := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	full.SetLoRA(a)
	dstF := make([]float64, len(m.Params))
	rowsF, _, err := full.Grad(dstF, batch)
	if err != nil {
		t.Fatal(err)
	}
	wantDst := make([]float64, len(a.Params))
	a.Grad(wantDst, dstF)
	G := len(Groups(tinyCfg))
	near := func(x, y, scale float64) bool { return math.Abs(x-y) <= 1e-11*scale }
	var got [2][]float64
	for k, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
		s.SetLoRAOnly(a)
		dst := make([]float64, len(a.Params))
		rows, _, err := s.Grad(dst, batch)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		got[k] = dst
		if e := relDiff(dst, wantDst); e > 1e-12 {
			t.Errorf("procs %d: dst vs P(full dst): relErr %.3g", procs, e)
		}
		for i, r := range rows {
			f := rowsF[i]
			if r.Loss != f.Loss || r.LogpW != f.LogpW || len(r.DotG) != len(LoRAGroups(a)) {
				t.Fatalf("pair %d: loss, log-prob or group count differ", r.Pair)
			}
			var ww, ll float64
			for g := range r.DotG {
				ww += f.WWG[G+g]
				ll += f.LLG[G+g]
				sc := f.WWG[G+g] + f.LLG[G+g]
				if !near(r.DotG[g], f.DotG[G+g], sc) || !near(r.WWG[g], f.WWG[G+g], sc) || !near(r.LLG[g], f.LLG[G+g], sc) || sc == 0 {
					t.Errorf("pair %d group %d: (%v %v %v), want (%v %v %v)", r.Pair, g, r.DotG[g], r.WWG[g], r.LLG[g], f.DotG[G+g], f.WWG[G+g], f.LLG[G+g])
				}
			}
			if !near(r.WW, ww, ww) || !near(r.LL, ll, ll) {
				t.Errorf("pair %d: totals %v %v, want the adapter groups' %v %v", r.Pair, r.WW, r.LL, ww, ll)
			}
		}
	}
	if !slices.Equal(got[0], got[1]) {
		t.Error("lanes change the adapter-only batch gradient")
	}

	// Step with probes and dumps in the adapter space
	s := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	s.SetLoRAOnly(a)
	probes := makePairs(rand.New(rand.NewPCG(15, 0)), 2, tinyCfg.V)
	a0 := slices.Clone(a.Params)
	dst := make([]float64, len(a.Params))
	const lr = 1e-5
	res, err := s.Step(dst, batch, &Dump{Probes: probes, Grads: true}, func(g []float64) {
		for i := range a.Params {
			a.Params[i] -= lr * g[i]
		}
		a.Merge()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Probes {
		dw, dl := r.LogpWAfter-r.LogpW, r.LogpLAfter-r.LogpL
		if math.Abs(dw-r.PredW) > 1e-3*math.Abs(dw) || math.Abs(dl-r.PredL) > 1e-3*math.Abs(dl) || dw == 0 {
			t.Errorf("probe %d: Δlogp (%g, %g), predicted (%g, %g)", r.Pair, dw, dl, r.PredW, r.PredL)
		}
	}
	for _, v := range res.Grads {
		if len(v.Grad) != len(a.Params) {
			t.Fatalf("dumped vector of %d values, want the adapters' %d", len(v.Grad), len(a.Params))
		}
	}
	copy(a.Params, a0)
	a.Merge()

	// back to all parameters
	s.SetLoRA(nil)
	dst2 := make([]float64, len(m.Params))
	plain := NewStepper(m, Config{Loss: mustLoss(t, "dpo", 0)})
	dst3 := make([]float64, len(m.Params))
	if _, _, err := s.Grad(dst2, batch); err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Grad(dst3, batch); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst2, dst3) {
		t.Error("SetLoRA(nil) after SetLoRAOnly: the batch gradient differs from a plain Stepper's")
	}
}

func relDiff(x, y []float64) float64 {
	var num, den float64
	for i := range x {
		num += (x[i] - y[i]) * (x[i] - y[i])
		den += y[i] * y[i]
	}
	return math.Sqrt(num / den)
}
