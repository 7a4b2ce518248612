package pref

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"entangle/pkg/loss"
)

// TestEvaluateIsProbeBefore: Evaluate's rows are ProbeBefore's, bit for bit
// (same loss, d_w, d_l, dots and group norms, NaN after-fields),
// for dpo and for kto_pair (whose reference point is the pairs' own mean),
// the parameters do not move, and visit receives each pair's g_w and g_l:
// the same vectors as Dump's sequence gradients.
func TestEvaluateIsProbeBefore(t *testing.T) {
	for _, name := range []string{"dpo", "kto_pair"} {
		m := newModel[float32](8)
		s := NewStepper(m, Config{Loss: mustLoss(t, name, 0), Beta: 0.1})
		pairs := makePairs(rand.New(rand.NewPCG(14, 0)), 5, tinyCfg.V)
		before := append([]float32(nil), m.Params...)
		seen := 0
		got, err := s.Evaluate(pairs, func(i int, gw, gl []float32) error {
			dump := s.Dump(nil, VecProbe, pairs[i:i+1], 0, nil)
			if !reflect.DeepEqual(dump[0].Grad, append([]float32(nil), gw...)) || !reflect.DeepEqual(dump[1].Grad, append([]float32(nil), gl...)) {
				t.Errorf("%s: pair %d: visit's gradients differ from Dump's", name, i)
			}
			seen++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen != len(pairs) {
			t.Errorf("%s: visit called %d times, want %d", name, seen, len(pairs))
		}
		want, err := s.ProbeBefore(pairs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !rowsEqual(&got[i], &want[i]) {
				t.Errorf("%s: pair %d: Evaluate %+v\nProbeBefore %+v", name, i, got[i], want[i])
			}
			if !math.IsNaN(got[i].PredW) || !math.IsNaN(got[i].LogpWAfter) {
				t.Errorf("%s: pair %d: pred %v, after %v", name, i, got[i].PredW, got[i].LogpWAfter)
			}
		}
		if !reflect.DeepEqual(before, m.Params) {
			t.Errorf("%s: Evaluate moved the parameters", name)
		}
		if s.sw != nil || s.sl != nil || len(s.lanes) != 0 {
			t.Errorf("%s: a Stepper that only evaluated holds the batch sums (%d, %d values) or %d lanes", name, len(s.sw), len(s.sl), len(s.lanes))
		}
	}
}

// TestGateSigmoid: the learned gate's m_t is pkg/loss's σ, the form that
// keeps e^a/(1+e^a) for a < 0: at a = −720, where e^{−a} overflows, m_t is
// the subnormal e^{−720}, not 0; and at a = ±3 it has σ's bits.
func TestGateSigmoid(t *testing.T) {
	g := newGate(2)
	var sd side
	sd.lp = []float64{-1}
	for _, b := range []float64{-720, -3, 0, 3} {
		g.b = b
		learned[float32]{g}.set(&sd, []float32{0.5, -0.25}, 2, nil)
		want := math.Exp(b) / (1 + math.Exp(b))
		if b >= 0 {
			want = 1 / (1 + math.Exp(-b))
		}
		if math.Float64bits(sd.q[0]) != math.Float64bits(want) || sd.q[0] != loss.Logistic(b) {
			t.Errorf("b %v: m_t %v, want %v", b, sd.q[0], want)
		}
	}
}

// rowsEqual compares two rows bit for bit, NaN equal to NaN.
func rowsEqual(a, b *PairStats) bool {
	f := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	sa, sb := a.Pair == b.Pair && a.LenW == b.LenW && a.LenL == b.LenL, true
	for _, p := range [][2]float64{{a.LogpW, b.LogpW}, {a.LogpL, b.LogpL}, {a.RefW, b.RefW}, {a.RefL, b.RefL}, {a.Loss, b.Loss},
		{a.Margin, b.Margin}, {a.DW, b.DW}, {a.DL, b.DL}, {a.CW, b.CW}, {a.CL, b.CL}, {a.Dot, b.Dot}, {a.WW, b.WW}, {a.LL, b.LL},
		{a.LogpWAfter, b.LogpWAfter}, {a.PredW, b.PredW}} {
		sb = sb && f(p[0], p[1])
	}
	return sa && sb && reflect.DeepEqual(a.DotG, b.DotG) && reflect.DeepEqual(a.WWG, b.WWG) && reflect.DeepEqual(a.LLG, b.LLG) &&
		reflect.DeepEqual(a.HidW, b.HidW) && reflect.DeepEqual(a.HidL, b.HidL)
}

// TestLanesFor: four lanes for the presets, three at GPT-2 small in float32
// (950 MiB of g_w, g_l per lane), two at pythia-160m and SmolLM2-135M, one
// in float64, never zero.
func TestLanesFor(t *testing.T) {
	n := 124439808
	for _, c := range []struct{ n, size, want int }{{100_000, 4, 4}, {n, 4, 3}, {162322944, 4, 2}, {134515008, 4, 2},
		{n, 8, 1}, {10 * n, 4, 1}, {0, 4, 4}} {
		if got := lanesFor(c.n, c.size); got != c.want {
			t.Errorf("lanesFor(%d, %d) = %d, want %d", c.n, c.size, got, c.want)
		}
	}
}
