package entangle

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestCountSketchMatchesEntries: ProjectAdd equals Σ_j S[k][j] src[j] built
// from Entry; every column has exactly one non-zero entry, ±1; the same seed
// gives the same map and another seed another one.
func TestCountSketchMatchesEntries(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 0))
	const N, K = 1000, 17
	s := NewCountSketch(42, K)
	src := randVec(r, N)
	want := make([]float64, K)
	for j, v := range src {
		nz := 0
		for k := range K {
			e := s.Entry(k, j)
			if e != 0 {
				nz++
				if e != 1 && e != -1 {
					t.Fatalf("Entry(%d,%d) = %v, want ±1", k, j, e)
				}
				want[k] += e * float64(v)
			}
		}
		if nz != 1 {
			t.Fatalf("column %d has %d non-zero entries, want 1", j, nz)
		}
	}
	got := make([]float64, K)
	s.ProjectAdd(got, src, 0)
	for k := range K {
		if got[k] != want[k] { // the same additions in the same order
			t.Errorf("row %d: %v, want %v", k, got[k], want[k])
		}
	}
	dst, again, other := make([]float32, K), make([]float32, K), make([]float32, K)
	s.Project(dst, src)
	NewCountSketch(42, K).Project(again, src)
	NewCountSketch(43, K).Project(other, src)
	same := 0
	for k := range K {
		if dst[k] != float32(got[k]) || again[k] != dst[k] {
			t.Errorf("Project[%d] = %v (again %v), want %v", k, dst[k], again[k], float32(got[k]))
		}
		if other[k] == dst[k] {
			same++
		}
	}
	if same == K {
		t.Error("seeds 42 and 43 gave the same sketch")
	}
}

// TestCountSketchBuckets: over N = 64000 coordinates and K = 64 buckets each
// bucket's count is Binomial(N, 1/K) (mean 1000, sd ≈ 31) and the signs are
// balanced (sd of the fraction 1/(2√N) ≈ 0.002); 5 sd bounds.
func TestCountSketchBuckets(t *testing.T) {
	const N, K = 64000, 64
	s := NewCountSketch(5, K)
	var count [K]int
	pos := 0
	for j := range N {
		h, p := s.bucket(j)
		count[h]++
		if p {
			pos++
		}
	}
	mean, sd := float64(N)/K, math.Sqrt(float64(N)/K*(1-1.0/K))
	for k, c := range count {
		if math.Abs(float64(c)-mean) > 5*sd {
			t.Errorf("bucket %d has %d coordinates, want %v ± %v", k, c, mean, 5*sd)
		}
	}
	if f := float64(pos) / N; math.Abs(f-0.5) > 5*0.5/math.Sqrt(N) {
		t.Errorf("positive fraction %v, want 0.5", f)
	}
}

// TestCountSketchGroupsAddUp: projecting parameter groups at their global
// offsets gives exactly the sketch of the whole vector (each bucket receives
// the same additions in the same order).
func TestCountSketchGroupsAddUp(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 0))
	const N, K = 5000, 33
	s := NewCountSketch(7, K)
	x := randVec(r, N)
	whole, sum := make([]float64, K), make([]float64, K)
	s.ProjectAdd(whole, x, 0)
	for _, g := range []Range{{"a", 0, 3}, {"b", 3, 1000}, {"c", 1003, 0}, {"d", 1003, 61}, {"e", 1064, 3936}} {
		s.ProjectAdd(sum, x[g.Off:g.Off+g.Len], g.Off)
	}
	for k := range K {
		if sum[k] != whole[k] {
			t.Errorf("row %d: groups %v, whole %v", k, sum[k], whole[k])
		}
	}
}

// TestCountSketchErrorBound: the inner product's error against its bound.
// For M = 3000 (vector pair, seed) draws, z = (⟨Sa,Sb⟩ − ⟨a,b⟩)/√SketchVar
// must have mean 0 (standard error 1/√M ≈ 0.018, bound 4/√M) and variance 1
// (bound ±0.12, as for the dense sketch; a variance off by the −2Σa_i²b_i²
// term would be 0.75 in the sparse regime), and |z| > 3 may occur for at most
// 1/9 of the draws (Chebyshev, whatever the distribution). The plug-in
// SketchStdErr² must be conservative: its mean ≥ 0.95 of the exact variance
// (≈ 32/24 in the sparse regime). Seeds are fixed, so the test is
// deterministic; the bounds are 4σ-wide for a fresh draw.
func TestCountSketchErrorBound(t *testing.T) {
	const M, N, K = 3000, 256, 64
	for _, regime := range []string{"dense", "sparse", "long"} {
		t.Run(regime, func(t *testing.T) {
			r := rand.New(rand.NewPCG(23, 0))
			var sz, szz, sse float64
			tail := 0
			sa, sb := make([]float32, K), make([]float32, K)
			m := M
			if regime == "long" {
				m = 400 // N = 2^16: the long-vector case, fewer draws (bounds widened below)
			}
			for i := range m {
				var a, b []float32
				switch regime {
				case "dense", "long":
					n := N
					if regime == "long" {
						n = 1 << 16
					}
					a, b = randVec(r, n), randVec(r, n)
					c := 1.2*r.Float64() - 0.2
					for j := range b {
						b[j] = float32(c*float64(a[j]) + float64(b[j]))
					}
				case "sparse":
					a = make([]float32, N)
					for SumSq(a) < 4 {
						a[r.IntN(N)] = 1
					}
					b = a
				}
				s := NewCountSketch(uint64(1000+i), K)
				s.Project(sa, a)
				s.Project(sb, b)
				ab, aa, bb := DotNorms(a, b)
				v := SketchVar(aa, bb, ab, SumSqProd(a, b), K)
				z := (Dot(sa, sb) - ab) / math.Sqrt(v)
				sz += z
				szz += z * z
				if math.Abs(z) > 3 {
					tail++
				}
				se := SketchStdErr(sa, sb)
				sse += se * se / v
			}
			fm := float64(m)
			mean := sz / fm
			vr := szz/fm - mean*mean
			if math.Abs(mean) > 4/math.Sqrt(fm) {
				t.Errorf("mean z = %v, want 0 ± %v", mean, 4/math.Sqrt(fm))
			}
			if tol := 0.12 * math.Sqrt(M/fm); math.Abs(vr-1) > tol {
				t.Errorf("var z = %v, want 1 ± %v", vr, tol)
			}
			if f := float64(tail) / fm; f > 1.0/9 {
				t.Errorf("P(|z| > 3) = %v, above Chebyshev's 1/9", f)
			}
			ratio := sse / fm
			if ratio < 0.95 {
				t.Errorf("mean SE²/Var = %v, want ≥ 0.95 (conservative)", ratio)
			}
			if regime == "sparse" && math.Abs(ratio-32./24) > 0.1 {
				t.Errorf("sparse: mean SE²/Var = %v, want ≈ 4/3", ratio)
			}
		})
	}
}

func BenchmarkCountSketch(b *testing.B) {
	for _, sz := range []struct{ N, K int }{{500_000, 1024}, {4_000_000, 4096}} {
		b.Run(fmt.Sprintf("N=%d/K=%d", sz.N, sz.K), func(b *testing.B) {
			r := rand.New(rand.NewPCG(12, 0))
			src := randVec(r, sz.N)
			dst := make([]float64, sz.K)
			s := NewCountSketch(1, sz.K)
			b.SetBytes(int64(4 * sz.N))
			b.ReportAllocs()
			for b.Loop() {
				s.ProjectAdd(dst, src, 0)
			}
		})
	}
}
