package plotting

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"entangle/pkg/entangle"
)

func TestThinShortPassesThroughWithoutNaN(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4}
	y := []float64{1, math.NaN(), 3, math.Inf(1), 5}
	tx, ty := Thin(x, y, 10)
	if !slices.Equal(tx, []float64{0, 2, 4}) || !slices.Equal(ty, []float64{1, 3, 5}) {
		t.Fatalf("Thin = %v %v, want the three finite points", tx, ty)
	}
}

// TestThinKeepsExtremesAndEnds checks the properties the figures rely on on
// a long noisy series with planted spikes: the bound, x order, the end
// points, the global extremes, and that every kept point is an input point.
func TestThinKeepsExtremesAndEnds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 0))
	for _, n := range []int{2001, 5000, 100000} {
		for _, maxP := range []int{4, 5, 100, 2000} {
			x := make([]float64, n)
			y := make([]float64, n)
			for i := range x {
				x[i] = float64(i) * 0.5
				y[i] = rng.NormFloat64()
			}
			spikeHi, spikeLo := rng.IntN(n), rng.IntN(n)
			y[spikeHi], y[spikeLo] = 100, -100
			if spikeHi == spikeLo {
				y[spikeLo] = -100
			}
			tx, ty := Thin(x, y, maxP)
			if len(tx) > maxP || len(tx) != len(ty) {
				t.Fatalf("n=%d max=%d: %d points", n, maxP, len(tx))
			}
			if tx[0] != x[0] || tx[len(tx)-1] != x[n-1] || ty[0] != y[0] || ty[len(ty)-1] != y[n-1] {
				t.Fatalf("n=%d max=%d: end points lost", n, maxP)
			}
			if !slices.IsSorted(tx) {
				t.Fatalf("n=%d max=%d: x out of order", n, maxP)
			}
			if slices.Max(ty) != slices.Max(y) || slices.Min(ty) != slices.Min(y) {
				t.Fatalf("n=%d max=%d: extremes lost: [%v, %v] vs [%v, %v]", n, maxP, slices.Min(ty), slices.Max(ty), slices.Min(y), slices.Max(y))
			}
			for j := range tx {
				i := int(tx[j] / 0.5)
				if y[i] != ty[j] {
					t.Fatalf("point %d (x=%v) is not an input point", j, tx[j])
				}
			}
		}
	}
}

func TestQuantileBandByHand(t *testing.T) {
	// Type 7: for 1,2,3,4,5 (N=5), h = 4p: q25 = x_1 = 2, median = 3, q75 = 4.
	// For 10, 20 (N=2): h = p: q25 = 12.5, median = 15, q75 = 17.5.
	b := QuantileBand("cos", []float64{0, 1, 2}, [][]float64{{5, 1, 4, 2, 3}, {math.NaN()}, {20, 10, math.Inf(1)}})
	if !slices.Equal(b.X, []float64{0, 2}) {
		t.Fatalf("X = %v, want the steps with finite samples [0 2]", b.X)
	}
	want := [][3]float64{{2, 3, 4}, {12.5, 15, 17.5}}
	for i, w := range want {
		if b.Lo[i] != w[0] || b.Mid[i] != w[1] || b.Hi[i] != w[2] {
			t.Errorf("step %v: (%v, %v, %v), want %v", b.X[i], b.Lo[i], b.Mid[i], b.Hi[i], w)
		}
	}
	if !slices.Equal(b.N, []int{5, 2}) {
		t.Errorf("N = %v", b.N)
	}
}

func TestStrideIndexAndThinBand(t *testing.T) {
	if got := StrideIndex(5, 10); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("StrideIndex(5,10) = %v", got)
	}
	// n = 10, max 4: k = ⌈10/4⌉ = 3 → 0 3 6 9 (9 is also the last).
	if got := StrideIndex(10, 4); !slices.Equal(got, []int{0, 3, 6, 9}) {
		t.Errorf("StrideIndex(10,4) = %v", got)
	}
	// n = 11, max 4: k = 3 → 0 3 6 9, plus the last 10.
	if got := StrideIndex(11, 4); !slices.Equal(got, []int{0, 3, 6, 9, 10}) {
		t.Errorf("StrideIndex(11,4) = %v", got)
	}
	if got := StrideIndex(0, 4); len(got) != 0 {
		t.Errorf("StrideIndex(0,4) = %v", got)
	}
	var b Band
	for i := 0; i < 11; i++ {
		v := float64(i)
		b.X, b.Lo, b.Mid, b.Hi, b.N = append(b.X, v), append(b.Lo, v-1), append(b.Mid, v), append(b.Hi, v+1), append(b.N, i)
	}
	tb := ThinBand(b, 4)
	if !slices.Equal(tb.X, []float64{0, 3, 6, 9, 10}) || !slices.Equal(tb.Lo, []float64{-1, 2, 5, 8, 9}) || !slices.Equal(tb.N, []int{0, 3, 6, 9, 10}) {
		t.Errorf("ThinBand = %+v", tb)
	}
}

// TestPlaneRegionMatchesPairCase checks the shaded regions against
// pkg/entangle's case table on random pairs: the region of (ChosenRatio,
// RejectedRatio) must be the pair's paper Case, and no pair may land in the
// infeasible x > 1, y > 1 quadrant or have x·y > 1.
func TestPlaneRegionMatchesPairCase(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 0))
	seen := map[entangle.Case]int{}
	for k := 0; k < 20000; k++ {
		ww := math.Exp(4 * rng.NormFloat64())
		ll := math.Exp(4 * rng.NormFloat64())
		cos := 2*rng.Float64() - 1
		dot := cos * math.Sqrt(ww*ll)
		s := entangle.Pair(dot, ww, ll, 1, 1)
		r := PlaneRegion(s.ChosenRatio, s.RejectedRatio)
		if r != s.Case {
			t.Fatalf("dot=%v ww=%v ll=%v: region %v, case %v", dot, ww, ll, r, s.Case)
		}
		if s.ChosenRatio*s.RejectedRatio > 1+1e-12 {
			t.Fatalf("x·y = %v > 1", s.ChosenRatio*s.RejectedRatio)
		}
		seen[r]++
	}
	for _, c := range []entangle.Case{1, 2, 3} {
		if seen[c] == 0 {
			t.Errorf("case %v never drawn: the test does not cover it", c)
		}
	}
	if seen[4] != 0 {
		t.Errorf("%d pairs in the infeasible region", seen[4])
	}
	// The boundaries belong to case 1 (ties count as the desired direction).
	for _, p := range [][3]float64{{1, 1, 1}, {1, 0.5, 1}, {0.5, 1, 1}, {1.01, 1, 2}, {1, 1.01, 3}, {2, 2, 4}} {
		if got := PlaneRegion(p[0], p[1]); got != entangle.Case(p[2]) {
			t.Errorf("PlaneRegion(%v, %v) = %v, want %v", p[0], p[1], got, p[2])
		}
	}
	if PlaneRegion(math.NaN(), 0) != entangle.CaseUndefined {
		t.Error("NaN is not undefined")
	}
}

func TestCaseFractionsAndStack(t *testing.T) {
	// 8 pairs: four case 1, two case 2, one case 3, one undefined.
	f := CaseFractions([]entangle.Case{1, 1, 2, 1, 3, 0, 2, 1})
	if f != [4]float64{0.5, 0.25, 0.125, 0.125} {
		t.Fatalf("fractions %v", f)
	}
	if CaseFractions(nil) != [4]float64{} {
		t.Fatal("empty step is not zero")
	}
	layers := [][]float64{{f[0], 0.2}, {f[1], 0.3}, {f[2], 0.5}, {f[3], 0}}
	cum := Stack(layers)
	want := [][]float64{{0.5, 0.2}, {0.75, 0.5}, {0.875, 1}, {1, 1}}
	for k := range want {
		if !slices.Equal(cum[k], want[k]) {
			t.Errorf("layer %d: %v, want %v", k, cum[k], want[k])
		}
	}
}

// modelNames returns the model.Tensors names of an L-layer untied model.
func modelNames(L int) []string {
	names := []string{"wte", "wpe"}
	for l := 0; l < L; l++ {
		for _, s := range []string{"ln1.w", "ln1.b", "attn.qkv.w", "attn.qkv.b", "attn.proj.w", "attn.proj.b", "ln2.w", "ln2.b", "mlp.fc.w", "mlp.fc.b", "mlp.proj.w", "mlp.proj.b"} {
			names = append(names, "h."+string(rune('0'+l))+"."+s)
		}
	}
	return append(names, "lnf.w", "lnf.b", "lm_head.w")
}

func TestGroupBuckets(t *testing.T) {
	few := []string{"a", "b", "c"}
	if l, of := GroupBuckets(few, 10); !slices.Equal(l, few) || !slices.Equal(of, []int{0, 1, 2}) {
		t.Errorf("few groups: %v %v", l, of)
	}
	// L = 2: 2 + 24 + 3 = 29 groups → embeddings, 2 × (attention, MLP),
	// final: 6 buckets.
	names := modelNames(2)
	l, of := GroupBuckets(names, 12)
	want := []string{"embeddings", "layer 0 attention", "layer 0 MLP", "layer 1 attention", "layer 1 MLP", "final LN/head"}
	if !slices.Equal(l, want) {
		t.Fatalf("labels %v, want %v", l, want)
	}
	// Spot checks by hand: index 2 is h.0.ln1.w (attention block), index 8
	// is h.0.ln2.w (MLP block), index 14 is h.1.ln1.w, the last is lm_head.w.
	for g, b := range map[int]int{0: 0, 1: 0, 2: 1, 7: 1, 8: 2, 13: 2, 14: 3, 20: 4, 28: 5} {
		if of[g] != b {
			t.Errorf("%s → %q, want %q", names[g], l[of[g]], l[b])
		}
	}
	// L = 8: 2·8 + 2 = 18 > 12 → kinds only.
	l, of = GroupBuckets(modelNames(8), 12)
	if !slices.Equal(l, []string{"embeddings", "attention (all layers)", "MLP (all layers)", "final LN/head"}) {
		t.Fatalf("kind labels %v", l)
	}
	if len(of) != 2+8*12+3 {
		t.Fatalf("len(of) = %d", len(of))
	}
	if l, _ := GroupBuckets([]string{"x", "y", "h.z.attn"}, 2); !slices.Equal(l, []string{"other"}) {
		t.Errorf("unknown names: %v", l)
	}
}

func TestShares(t *testing.T) {
	// Groups 0,1 → bucket 0, group 2 → bucket 1; v = (3, −1, 2): total 4,
	// bucket 0 = (3 − 1)/4, bucket 1 = 2/4.
	s := Shares([]float64{3, -1, 2}, []int{0, 0, 1}, 2)
	if !slices.Equal(s, []float64{0.5, 0.5}) {
		t.Errorf("shares %v", s)
	}
	// Mixed signs: (3, −2) → 3/1 and −2/1: shares beyond [0, 1] still sum to 1.
	s = Shares([]float64{3, -2}, []int{0, 1}, 2)
	if !slices.Equal(s, []float64{3, -2}) {
		t.Errorf("mixed shares %v", s)
	}
	if s := Shares([]float64{0, 0}, []int{0, 1}, 2); !math.IsNaN(s[0]) {
		t.Errorf("zero total gives %v, want NaN", s)
	}
}

func TestClampAndViewRange(t *testing.T) {
	x := []float64{0, 5, -3, math.NaN()}
	y := []float64{0.5, 0.5, 0.5, 0.5}
	cx, cy, moved := Clamp(x, y, -1, 2)
	if moved != 2 || !slices.Equal(cx[:3], []float64{0, 2, -1}) || !math.IsNaN(cx[3]) || cy[0] != 0.5 {
		t.Errorf("Clamp = %v %v %d", cx, cy, moved)
	}
	// 0..100: q01 = 1, q99 = 99 (type 7 on 101 points), widened to contain
	// [−0.25, 2] and padded by 5% of 99.25.
	v := make([]float64, 101)
	for i := range v {
		v[i] = float64(i)
	}
	a, b := ViewRange(v, -0.25, 2)
	if math.Abs(a-(-0.25-0.05*99.25)) > 1e-12 || math.Abs(b-(99+0.05*99.25)) > 1e-12 {
		t.Errorf("ViewRange = %v, %v", a, b)
	}
}
