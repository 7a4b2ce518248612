package entangle

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSketchMatchesEntries: Project equals the naive Σ_j S[k][j] src[j] built
// from Entry, at a length that is not a multiple of 8 or 64.
func TestSketchMatchesEntries(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 0))
	const N, K = 1000, 17
	s := NewSketch(42, K)
	src := randVec(r, N)
	got := make([]float64, K)
	s.ProjectAdd(got, src, 0)
	var abs float64
	for _, v := range src {
		abs += math.Abs(float64(v))
	}
	for k := range K {
		var want float64
		for j, v := range src {
			want += s.Entry(k, j) * float64(v)
		}
		// Different summation orders: bound N·eps·Σ|S_kj src_j|.
		if math.Abs(got[k]-want) > N*0x1p-52*abs {
			t.Errorf("row %d: %v, want %v", k, got[k], want)
		}
	}
	dst := make([]float32, K)
	s.Project(dst, src)
	for k := range K {
		if dst[k] != float32(got[k]) {
			t.Errorf("Project[%d] = %v, want %v", k, dst[k], float32(got[k]))
		}
	}
	// Same seed, same projection; another seed, another one.
	again := make([]float32, K)
	NewSketch(42, K).Project(again, src)
	other := make([]float32, K)
	NewSketch(43, K).Project(other, src)
	same := 0
	for k := range K {
		if again[k] != dst[k] {
			t.Errorf("seed 42 not reproducible at %d", k)
		}
		if other[k] == dst[k] {
			same++
		}
	}
	if same == K {
		t.Error("seeds 42 and 43 gave the same sketch")
	}
}

// TestSketchEntries checks the sign pattern: about half the entries are
// positive, and adjacent rows and adjacent 64-column tiles are uncorrelated.
// With n = 64·64·64 = 262144 signs, 4σ of the fraction is 4·0.5/√n ≈ 0.004.
func TestSketchEntries(t *testing.T) {
	const K, N = 64, 64 * 64
	s := NewSketch(1, K)
	var pos, agreeRow, agreeTile, n int
	for k := range K {
		for j := range N {
			e := s.Entry(k, j)
			if math.Abs(math.Abs(e)-0.125) > 0 { // 1/√64
				t.Fatalf("Entry(%d,%d) = %v, want ±1/8", k, j, e)
			}
			if e > 0 {
				pos++
			}
			if e == s.Entry((k+1)%K, j) {
				agreeRow++
			}
			if e == s.Entry(k, (j+64)%N) {
				agreeTile++
			}
			n++
		}
	}
	for name, c := range map[string]int{"positive": pos, "row-agree": agreeRow, "tile-agree": agreeTile} {
		if f := float64(c) / float64(n); math.Abs(f-0.5) > 4*0.5/math.Sqrt(float64(n)) {
			t.Errorf("%s fraction = %v, want 0.5", name, f)
		}
	}
}

// TestSketchGroupsAddUp: projecting parameter groups at their global offsets
// and adding gives the sketch of the whole vector (to rounding).
func TestSketchGroupsAddUp(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 0))
	const N, K = 5000, 33
	s := NewSketch(7, K)
	x := randVec(r, N)
	whole := make([]float64, K)
	s.ProjectAdd(whole, x, 0)
	sum := make([]float64, K)
	for _, g := range []Range{{"a", 0, 3}, {"b", 3, 1000}, {"c", 1003, 0}, {"d", 1003, 61}, {"e", 1064, 3936}} {
		s.ProjectAdd(sum, x[g.Off:g.Off+g.Len], g.Off)
	}
	for k := range K {
		if math.Abs(sum[k]-whole[k]) > 1e-12*math.Sqrt(N) {
			t.Errorf("row %d: groups %v, whole %v", k, sum[k], whole[k])
		}
	}
}

// TestSketchUnbiasedVariance: for M independent (vector pair, seed) draws,
// z = (⟨Sa,Sb⟩ − ⟨a,b⟩)/√SketchVar must have mean 0 and variance 1. With
// M = 3000, the mean's standard error is 1/√M ≈ 0.018 (bound 4/√M ≈ 0.073)
// and the sample variance's is ≈ √(2/M) ≈ 0.026 for near-normal z (bound 0.12).
// The sparse regime (a = b with four equal non-zeros) has
// Var = (16 + 16 − 2·4)/K = 24/K; omitting the −2Σa_i²b_i² term would give
// 32/K and a variance of z of 0.75, which the bound rejects. There, the
// plug-in SketchStdErr² must overestimate: its mean ≈ 32/24 of the variance.
func TestSketchUnbiasedVariance(t *testing.T) {
	const M, N, K = 3000, 256, 64
	for _, regime := range []string{"dense", "sparse"} {
		t.Run(regime, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 0))
			var sz, szz, sse float64
			sa, sb := make([]float32, K), make([]float32, K)
			for m := range M {
				var a, b []float32
				if regime == "dense" {
					a, b = randVec(r, N), randVec(r, N)
					c := 1.2*r.Float64() - 0.2 // mostly positive correlation: ⟨a,b⟩² matters and a scale error biases z
					for i := range b {
						b[i] = float32(c*float64(a[i]) + float64(b[i]))
					}
				} else {
					a = make([]float32, N)
					for range 4 {
						a[r.IntN(N)] = 1
					}
					for SumSq(a) < 4 { // four distinct non-zeros
						a[r.IntN(N)] = 1
					}
					b = a
				}
				s := NewSketch(uint64(m), K)
				s.Project(sa, a)
				s.Project(sb, b)
				ab, aa, bb := DotNorms(a, b)
				v := SketchVar(aa, bb, ab, SumSqProd(a, b), K)
				z := (Dot(sa, sb) - ab) / math.Sqrt(v)
				sz += z
				szz += z * z
				se := SketchStdErr(sa, sb)
				sse += se * se / v
			}
			mean := sz / M
			vr := szz/M - mean*mean
			if math.Abs(mean) > 4/math.Sqrt(M) {
				t.Errorf("mean z = %v, want 0 ± %v", mean, 4/math.Sqrt(M))
			}
			if math.Abs(vr-1) > 0.12 {
				t.Errorf("var z = %v, want 1 ± 0.12", vr)
			}
			ratio := sse / M
			if ratio < 0.95 {
				t.Errorf("mean SE²/Var = %v, want ≥ 0.95 (conservative)", ratio)
			}
			if regime == "sparse" && math.Abs(ratio-32./24) > 0.1 {
				t.Errorf("sparse: mean SE²/Var = %v, want ≈ 4/3", ratio)
			}
		})
	}
}

func BenchmarkProject(b *testing.B) {
	for _, sz := range []struct{ N, K int }{{500_000, 1024}, {500_000, 128}} {
		b.Run(fmt.Sprintf("N=%d/K=%d", sz.N, sz.K), func(b *testing.B) {
			r := rand.New(rand.NewPCG(12, 0))
			src := randVec(r, sz.N)
			dst := make([]float32, sz.K)
			s := NewSketch(1, sz.K)
			b.SetBytes(int64(4 * sz.N))
			b.ReportAllocs()
			for b.Loop() {
				s.Project(dst, src)
			}
		})
	}
}

// TestSplitMix64Reference pins the hash to the published SplitMix64
// sequence (Steele, Lea & Flood 2014; Vigna's splitmix64.c): with state 0
// the generator returns mix(γ), mix(2γ), mix(3γ), … and its first outputs are
// 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f. A change here
// changes every stored sketch (see SketchScheme).
func TestSplitMix64Reference(t *testing.T) {
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := splitmix64(uint64(i + 1)); got != want {
			t.Errorf("splitmix64(%d) = %#x, want %#x", i+1, got, want)
		}
	}
}
