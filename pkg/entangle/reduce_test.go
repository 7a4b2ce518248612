package entangle

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// naiveDot is the obvious float64 loop, the reference for small inputs.
func naiveDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// exactDot returns Σ a_i b_i computed with big.Float (each float32 product is
// exact in float64; the 1024-bit sum is exact for any realistic input).
func exactDot(a, b []float32) float64 {
	s := new(big.Float).SetPrec(1024)
	p := new(big.Float).SetPrec(1024)
	for i := range a {
		p.SetFloat64(float64(a[i]) * float64(b[i]))
		s.Add(s, p)
	}
	f, _ := s.Float64()
	return f
}

func TestDotSmall(t *testing.T) {
	// Hand-worked: ⟨(1,2,3),(4,−5,6)⟩ = 4 − 10 + 18 = 12; ‖a‖² = 1+4+9 = 14;
	// ‖b‖² = 16+25+36 = 77.
	a := []float32{1, 2, 3}
	b := []float32{4, -5, 6}
	if got := Dot(a, b); got != 12 {
		t.Errorf("Dot = %v, want 12", got)
	}
	if got := SumSq(a); got != 14 {
		t.Errorf("SumSq = %v, want 14", got)
	}
	if d, aa, bb := DotNorms(a, b); d != 12 || aa != 14 || bb != 77 {
		t.Errorf("DotNorms = %v %v %v, want 12 14 77", d, aa, bb)
	}
	if got := Dot(nil, nil); got != 0 {
		t.Errorf("Dot(nil) = %v", got)
	}
}

// TestDotNormsMatchesParts: the fused kernel must agree bit for bit with the
// separate ones, and with naive float64 to rounding, at lengths around the
// unroll width and the block size.
func TestDotNormsMatchesParts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 0))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 1023, 1024, 1025, 4099} {
		a, b := randVec(r, n), randVec(r, n)
		d, aa, bb := DotNorms(a, b)
		if d != Dot(a, b) || aa != SumSq(a) || bb != SumSq(b) {
			t.Errorf("n=%d: DotNorms = %v %v %v, parts %v %v %v", n, d, aa, bb, Dot(a, b), SumSq(a), SumSq(b))
		}
		// Σ|a_i b_i| bounds the rounding of any summation order; n·eps of it
		// is a safe bound.
		var abs float64
		for i := range a {
			abs += math.Abs(float64(a[i]) * float64(b[i]))
		}
		if e := math.Abs(d - naiveDot(a, b)); e > float64(n+1)*0x1p-52*abs {
			t.Errorf("n=%d: Dot = %v, naive %v", n, d, naiveDot(a, b))
		}
	}
}

// TestDotAccuracy10M: 10^7 values against an exact big.Float reference, for
// positive data (condition number 1) and for mixed signs spread over 2^±8.
func TestDotAccuracy10M(t *testing.T) {
	if testing.Short() {
		t.Skip("10^7 big.Float additions")
	}
	const n = 10_000_000
	r := rand.New(rand.NewPCG(2, 0))
	a, b := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i] = float32(r.Float64())
		b[i] = float32(math.Ldexp(r.NormFloat64(), r.IntN(17)-8))
	}
	for _, tc := range []struct {
		name string
		x    []float32
	}{{"positive", a}, {"mixed", b}} {
		want := exactDot(tc.x, a)
		got := Dot(tc.x, a)
		if rel := math.Abs(got-want) / math.Abs(want); rel > 1e-12 {
			t.Errorf("%s: Dot = %v, want %v (rel %g)", tc.name, got, want, rel)
		}
	}
}

// TestDotCompensation: 1 followed by 2^20 products of 2^-54. A plain float64
// running sum rounds 1 + 2^-54 back to 1 every time (tie to even) and returns
// 1, an error of 2^20·2^-54 = 2^-34. In the blocked sum only lane 0 of the
// first block holds the 1, so at most blockLen/4 − 1 = 63 small terms are lost
// (error ≤ 64·2^-54 = 2^-48); all other block sums are exact and the
// compensated total keeps them.
func TestDotCompensation(t *testing.T) {
	const n = 1 << 20
	a, b := make([]float32, n+1), make([]float32, n+1)
	a[0], b[0] = 1, 1
	for i := 1; i <= n; i++ {
		a[i], b[i] = 0x1p-27, 0x1p-27
	}
	want := 1 + 0x1p-34 // 2^20 · 2^-54
	const tol = 0x1p-48
	if got := Dot(a, b); math.Abs(got-want) > tol {
		t.Errorf("Dot = %v, want %v ± 2^-48 (naive gives %v)", got, want, naiveDot(a, b))
	}
	if got := SumSq(a); math.Abs(got-want) > tol {
		t.Errorf("SumSq = %v, want %v ± 2^-48", got, want)
	}
	// With the 1 at the end instead, every partial sum is exact.
	a[0], a[n], b[0], b[n] = a[n], a[0], b[n], b[0]
	if got := Dot(a, b); got != want {
		t.Errorf("Dot (1 last) = %v, want %v", got, want)
	}
}

func TestDotGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 0))
	const n = 10_000
	a, b := randVec(r, n), randVec(r, n)
	groups := []Range{{"emb", 0, 1000}, {"h0", 1000, 3333}, {"empty", 4333, 0}, {"h1", 4333, 5000}, {"head", 9333, 667}}
	dst := make([]GroupDot, len(groups))
	DotGroups(dst, a, b, groups)
	var d, aa, bb float64
	for g, gd := range dst {
		if gd.Name != groups[g].Name {
			t.Errorf("group %d name %q", g, gd.Name)
		}
		d += gd.Dot
		aa += gd.AA
		bb += gd.BB
	}
	wd, waa, wbb := DotNorms(a, b)
	// Five group sums differ from the total only by rounding: relative 1e-13
	// of Σ|terms| (here ≈ n) is ample.
	tol := 1e-13 * n
	if math.Abs(d-wd) > tol || math.Abs(aa-waa) > tol || math.Abs(bb-wbb) > tol {
		t.Errorf("group sums %v %v %v, totals %v %v %v", d, aa, bb, wd, waa, wbb)
	}
	// The first group alone equals DotNorms of its slice.
	if gd, _, _ := DotNorms(a[:1000], b[:1000]); dst[0].Dot != gd {
		t.Errorf("group 0 dot %v, want %v", dst[0].Dot, gd)
	}
	for _, bad := range []Range{{"neg", -1, 2}, {"over", n - 1, 2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("range %v: no panic", bad)
				}
			}()
			DotGroups(dst[:1], a, b, []Range{bad})
		}()
	}
}

func TestDotNoAlloc(t *testing.T) {
	a := make([]float32, 5000)
	if n := testing.AllocsPerRun(10, func() { DotNorms(a, a); Dot(a, a); SumSq(a) }); n != 0 {
		t.Errorf("allocs = %v", n)
	}
}

func BenchmarkDotNorms(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(4, 0))
			x, y := randVec(r, n), randVec(r, n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				DotNorms(x, y)
			}
		})
	}
}

func BenchmarkDot(b *testing.B) {
	const n = 10_000_000
	r := rand.New(rand.NewPCG(4, 0))
	x, y := randVec(r, n), randVec(r, n)
	b.SetBytes(int64(8 * n))
	for b.Loop() {
		Dot(x, y)
	}
}
