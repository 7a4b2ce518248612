package entangle

import (
	"math"
	"testing"
)

func TestQuantileType7(t *testing.T) {
	// x = 10, 20, 30, 40, 50 (N = 5): h = 4p.
	// p=0.05: h=0.2  → 10 + 0.2·10 = 12
	// p=0.25: h=1    → 20
	// p=0.5 : h=2    → 30
	// p=0.75: h=3    → 40
	// p=0.95: h=3.8  → 40 + 0.8·10 = 48
	x := []float64{10, 20, 30, 40, 50}
	for _, tc := range []struct{ p, want float64 }{
		{0, 10}, {0.05, 12}, {0.25, 20}, {0.5, 30}, {0.75, 40}, {0.95, 48}, {1, 50},
	} {
		if got := Quantile(x, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	// N = 4, x = 1, 2, 4, 8: h = 3p. Median h=1.5 → 2 + 0.5·2 = 3;
	// q25 h=0.75 → 1 + 0.75·1 = 1.75; q95 h=2.85 → 4 + 0.85·4 = 7.4.
	y := []float64{1, 2, 4, 8}
	for _, tc := range []struct{ p, want float64 }{{0.5, 3}, {0.25, 1.75}, {0.95, 7.4}} {
		if got := Quantile(y, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Quantile([]float64{7}, 0.3); got != 7 {
		t.Errorf("Quantile of one value = %v", got)
	}
}

func TestDescribe(t *testing.T) {
	// Unsorted input with non-finite values: finite part 8, 1, 4, 2 →
	// sorted 1, 2, 4, 8; mean 15/4 = 3.75; quantiles as in TestQuantileType7.
	x := []float64{8, math.NaN(), 1, math.Inf(1), 4, 2, math.Inf(-1)}
	orig := append([]float64(nil), x...)
	d := Describe(x)
	if d.N != 4 || d.NonFinite != 3 {
		t.Errorf("N, NonFinite = %d, %d, want 4, 3", d.N, d.NonFinite)
	}
	want := Dist{N: 4, NonFinite: 3, Mean: 3.75, Min: 1, Max: 8,
		Q05: 1.15, Q25: 1.75, Median: 3, Q75: 5, Q95: 7.4}
	// Q05: h = 0.15 → 1 + 0.15 = 1.15; Q75: h = 2.25 → 4 + 0.25·4 = 5.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"Mean", d.Mean, want.Mean}, {"Min", d.Min, want.Min}, {"Max", d.Max, want.Max},
		{"Q05", d.Q05, want.Q05}, {"Q25", d.Q25, want.Q25}, {"Median", d.Median, want.Median},
		{"Q75", d.Q75, want.Q75}, {"Q95", d.Q95, want.Q95}} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for i := range x {
		if !(x[i] == orig[i] || math.IsNaN(x[i]) && math.IsNaN(orig[i])) {
			t.Fatalf("Describe modified its input: %v", x)
		}
	}
	if e := Describe(nil); e.N != 0 || !math.IsNaN(e.Median) {
		t.Errorf("Describe(nil) = %+v", e)
	}
}

func TestSummarize(t *testing.T) {
	pairs := []PairStats{
		Pair(1, 4, 9, 1, 1),   // ideal, R = 0.25
		Pair(1.5, 1, 4, 1, 1), // both fall, R = 1.5
		Pair(1.5, 1, 4, 2, 1), // paper both fall, loss ideal (R = 1.5)
		Pair(1.5, 4, 1, 1, 1), // both rise, R = 1.5
		Pair(0, 0, 1, 1, 1),   // zero chosen norm: paper ideal, R NaN, 1 warning
	}
	s := Summarize(pairs)
	if s.N != 5 || s.Warned != 1 || s.Warnings != 1 {
		t.Errorf("N, Warned, Warnings = %d, %d, %d", s.N, s.Warned, s.Warnings)
	}
	wantCase := [NumCases]float64{0, 2. / 5, 2. / 5, 1. / 5, 0}
	wantLoss := [NumCases]float64{0, 3. / 5, 1. / 5, 1. / 5, 0}
	if s.CaseFrac != wantCase || s.LossCaseFrac != wantLoss {
		t.Errorf("CaseFrac = %v, LossCaseFrac = %v, want %v, %v", s.CaseFrac, s.LossCaseFrac, wantCase, wantLoss)
	}
	// R over the 4 defined pairs: 0.25, 1.5, 1.5, 1.5 → median 1.5, mean
	// 4.75/4 = 1.1875; the zero-norm pair is excluded.
	if s.R.N != 4 || s.R.NonFinite != 1 || s.R.Median != 1.5 || math.Abs(s.R.Mean-1.1875) > 1e-15 {
		t.Errorf("R = %+v", s.R)
	}
	if s.Cos.N != 4 {
		t.Errorf("Cos.N = %d", s.Cos.N)
	}
}

func TestBatchPair(t *testing.T) {
	// Chosen gradients (1,0), (3,2) → mean (2,1); rejected (0,2), (2,0),
	// (1,1) → sum (3,3), mean (1,1). ⟨ḡ_w,ḡ_l⟩ = 3, ‖ḡ_w‖² = 5, ‖ḡ_l‖² = 2.
	w, l := NewAccumulator(2), NewAccumulator(2)
	w.Add([]float32{1, 0})
	w.Add([]float32{3, 2})
	l.Add([]float32{0, 2})
	l.Add([]float32{2, 0})
	l.Add([]float32{1, 1})
	p := BatchPair(w, l, 1, 1)
	if math.Abs(p.Dot-3) > 1e-15 || math.Abs(p.WW-5) > 1e-15 || math.Abs(p.LL-2) > 1e-15 {
		t.Errorf("BatchPair = %v %v %v, want 3 5 2", p.Dot, p.WW, p.LL)
	}
	if want := 3 / math.Sqrt(10); math.Abs(p.Cos-want) > 1e-15 {
		t.Errorf("Cos = %v, want %v", p.Cos, want)
	}
	w.Reset()
	if q := BatchPair(w, l, 1, 1); !hasWarning(q, ErrNaN) || q.Case != CaseUndefined {
		t.Errorf("empty accumulator: %+v", q)
	}
}
