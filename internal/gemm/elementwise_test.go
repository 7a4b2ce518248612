package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// ulpDiff is the distance in float32 steps between two finite float32 values
// of the same sign (or zero).
func ulpDiff(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

// expSweep is a dense set of arguments: every 1/4096 step over [-110, 95]
// (covering underflow, the denormal range, the normal range and overflow),
// random values, and the special cases.
func expSweep() []float32 {
	var xs []float32
	for x := -110.0; x <= 95; x += 1.0 / 4096 {
		xs = append(xs, float32(x))
	}
	rng := rand.New(rand.NewPCG(1, 0))
	for range 1 << 16 {
		xs = append(xs, float32(rng.NormFloat64()*3))
	}
	inf := float32(math.Inf(1))
	return append(xs, 0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), 88.72, 88.73, -103.9, -87.33, 1e-30, -1e-30)
}

// TestExp32Accuracy: exp32 is within 2 ulps of math.Exp (rounded to float32)
// wherever e^x is a normal float32; in the denormal range within 2 ulps of
// the denormal grid; 0 below, +Inf above, NaN for NaN.
func TestExp32Accuracy(t *testing.T) {
	worst := int64(0)
	for _, x := range expSweep() {
		got := exp32(x)
		if x != x {
			if got == got {
				t.Fatalf("exp32(NaN) = %v", got)
			}
			continue
		}
		want := float32(math.Exp(float64(x)))
		if math.IsInf(float64(want), 1) {
			// overflow: the true value exceeds MaxFloat32 by more than half an ulp
			if !math.IsInf(float64(got), 1) && ulpDiff(got, math.MaxFloat32) > 2 {
				t.Fatalf("exp32(%v) = %v, want +Inf", x, got)
			}
			continue
		}
		if d := ulpDiff(got, want); d > 2 || math.IsInf(float64(got), 0) {
			t.Fatalf("exp32(%v) = %v, math.Exp = %v: %d ulps", x, got, want, d)
		} else if d > worst {
			worst = d
		}
	}
	t.Logf("worst error %d ulps", worst)
	if exp32(float32(math.Inf(-1))) != 0 || exp32(-200) != 0 || !math.IsInf(float64(exp32(200)), 1) {
		t.Errorf("exp32(-Inf, -200, 200) = %v, %v, %v; want 0, 0, +Inf", exp32(float32(math.Inf(-1))), exp32(-200), exp32(200))
	}
}

// simdElementwise returns the implementations of this machine that have
// SIMD elementwise kernels (avx512 and avx2 on an AVX-512 CPU: both are
// tested whichever is selected).
func simdElementwise(t *testing.T) []*kernelSet {
	var s []*kernelSet
	for _, name := range Impls() {
		if ks := byName(name); ks.exp != nil {
			s = append(s, ks)
		}
	}
	if len(s) == 0 {
		t.Skip("no SIMD elementwise kernels on this machine")
	}
	return s
}

// sameBits reports whether a and b are the same float32, or both NaN.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestElementwiseFast: the SIMD kernels of every implementation the CPU runs
// agree with the scalar reference bit for bit on the exp sweep and on GELU
// arguments, for every length 0..40 (tails) and for long slices; NaN gives NaN.
func TestElementwiseFast(t *testing.T) {
	for _, ks := range simdElementwise(t) {
		xs := expSweep()
		got := make([]float32, len(xs))
		ks.expSlice(got, xs)
		for i, x := range xs {
			if w := exp32(x); !sameBits(got[i], w) {
				t.Fatalf("%s: Exp(%v) = %v, exp32 = %v", ks.name, x, got[i], w)
			}
		}
		rng := rand.New(rand.NewPCG(2, 0))
		g := make([]float32, 1<<15)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 4)
		}
		g = append(g, 0, 1e-20, -1e-20, 20, -20, 1e5, -1e5, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
		for n := range 41 {
			for _, n := range []int{n, len(g) - 40 + n} {
				in := g[len(g)-n:]
				out := make([]float32, n)
				ks.geluSlice(out, in)
				ex := make([]float32, n)
				ks.expSlice(ex, in)
				dout := make([]float32, n)
				dinp := make([]float32, n)
				for i := range dout {
					dout[i] = float32(rng.NormFloat64())
					dinp[i] = float32(rng.NormFloat64())
				}
				want := append([]float32(nil), dinp...)
				ks.geluGradSlice(dinp, in, dout)
				for i, x := range in {
					w := gelu32(x)
					wd := fma32(geluGrad32(x), dout[i], want[i])
					if !sameBits(out[i], w) || !sameBits(dinp[i], wd) || !sameBits(ex[i], exp32(x)) {
						t.Fatalf("%s n=%d x=%v: GELU %v, GELUBackward %v, Exp %v; scalar %v, %v, %v",
							ks.name, n, x, out[i], dinp[i], ex[i], w, wd, exp32(x))
					}
				}
			}
		}
	}
}

// float32Range returns every float32 from lo to hi (same sign), in order.
func float32Range(lo, hi float32) []float32 {
	a, b := math.Float32bits(lo), math.Float32bits(hi)
	if lo < 0 || (lo == 0 && math.Signbit(float64(lo))) {
		a, b = math.Float32bits(hi), math.Float32bits(lo)
	}
	xs := make([]float32, 0, b-a+1)
	for u := a; u <= b; u++ {
		xs = append(xs, math.Float32frombits(u))
	}
	return xs
}

// TestElementwiseRanges: every float32 in ranges where the kernels branch or
// round specially, through every SIMD implementation, equals the scalar
// reference bit for bit. Exp: [-104, -100] (results 2^-150..2^-144: denormals
// rounding to few bits and to 0, the clamp), [-88, -86] (the normal/denormal
// boundary), [87, 89] (the largest finite results, overflow to +Inf, the
// clamp), [-0.36, -0.34] and [0.34, 0.36] (n changing from 0 to ±1), [1, 1.01],
// the smallest denormals and ±0. GELU and its derivative: [-10.1, -9.9] and
// [9.9, 10.1] (the derivative's clamp), [8.4, 8.6] (the cap 2u ≤ 80), [-6, -5.9]
// (1 + tanh far below 1), [0.5, 0.51], and the smallest denormals.
func TestElementwiseRanges(t *testing.T) {
	sets := simdElementwise(t)
	var ex, ge []float32
	for _, r := range [][2]float32{{-104, -100}, {-88, -86}, {87, 89}, {-0.36, -0.34}, {0.34, 0.36}, {1, 1.01}} {
		ex = append(ex, float32Range(r[0], r[1])...)
	}
	for _, r := range [][2]float32{{-10.1, -9.9}, {9.9, 10.1}, {8.4, 8.6}, {-6, -5.9}, {0.5, 0.51}} {
		ge = append(ge, float32Range(r[0], r[1])...)
	}
	den := float32Range(0, math.Float32frombits(4096))
	den = append(den, float32Range(float32(math.Copysign(0, -1)), -math.Float32frombits(4096))...)
	ex, ge = append(ex, den...), append(ge, den...)
	for _, ks := range sets {
		got := make([]float32, len(ex))
		ks.expSlice(got, ex)
		for i, x := range ex {
			if w := exp32(x); !sameBits(got[i], w) {
				t.Fatalf("%s: Exp(%v) = %v (%#x), exp32 = %v (%#x)", ks.name, x, got[i], math.Float32bits(got[i]), w, math.Float32bits(w))
			}
		}
		got = make([]float32, len(ge))
		ks.geluSlice(got, ge)
		d := make([]float32, len(ge))
		one := make([]float32, len(ge))
		for i := range one {
			one[i] = 1
		}
		ks.geluGradSlice(d, ge, one) // fma(g, 1, 0) = g
		for i, x := range ge {
			if w := gelu32(x); !sameBits(got[i], w) {
				t.Fatalf("%s: GELU(%v) = %v, gelu32 = %v", ks.name, x, got[i], w)
			}
			if w := geluGrad32(x); !sameBits(d[i], w) {
				t.Fatalf("%s: GELU'(%v) = %v, geluGrad32 = %v", ks.name, x, d[i], w)
			}
		}
		t.Logf("%s: %d Exp and %d GELU/GELU' arguments, identical bits", ks.name, len(ex), len(ge))
	}
}

// TestElementwiseAllFloat32: where the CPU runs both the AVX-512 and the AVX2
// kernels, they agree bit for bit on every one of the 2^32 float32 values
// (Exp, GELU and GELU'), so that every CPU with AVX2 computes what an AVX-512
// CPU computes (both equal the scalar reference wherever that was checked:
// TestElementwiseFast, TestElementwiseRanges). The full sweep takes about a
// minute of CPU time, so it runs with ENTANGLE_EXHAUSTIVE=1; by default every
// chunk of 2^16 consecutive patterns out of 257 is checked (≈2^24 values spread
// over every exponent). Skipped with -short.
func TestElementwiseAllFloat32(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	stride := uint64(257)
	if os.Getenv("ENTANGLE_EXHAUSTIVE") == "1" {
		stride = 1
	}
	k512, k2 := byName("avx512"), byName("avx2")
	if k512 == nil || k2 == nil || k512.exp == nil || k2.exp == nil || fmt.Sprintf("%p", k512.exp) == fmt.Sprintf("%p", k2.exp) {
		t.Skip("needs both the AVX-512 and the AVX2 elementwise kernels")
	}
	const chunk = 1 << 16
	var next atomic.Uint64
	var bad atomic.Value
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float32, chunk)
			one := make([]float32, chunk)
			for i := range one {
				one[i] = 1
			}
			a, b := make([]float32, chunk), make([]float32, chunk)
			for bad.Load() == nil {
				c := (next.Add(1) - 1) * stride
				if c >= 1<<32/chunk {
					return
				}
				for i := range x {
					x[i] = math.Float32frombits(uint32(c*chunk) + uint32(i))
				}
				for f := range 3 {
					switch f {
					case 0:
						k512.expSlice(a, x)
						k2.expSlice(b, x)
					case 1:
						k512.geluSlice(a, x)
						k2.geluSlice(b, x)
					case 2:
						clear(a)
						clear(b)
						k512.geluGradSlice(a, x, one)
						k2.geluGradSlice(b, x, one)
					}
					for i := range x {
						if !sameBits(a[i], b[i]) {
							bad.Store(fmt.Sprintf("function %d (0 Exp, 1 GELU, 2 GELU') at %v (%#x): avx512 %v, avx2 %v",
								f, x[i], math.Float32bits(x[i]), a[i], b[i]))
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
}

// TestGELU32: gelu32 and geluGrad32 match the float64 formulas within 3e-7
// absolute + 4e-7 relative on finite arguments. tanh = 1 - 2/(e+1) is computed
// near 1 in magnitude, so it carries an absolute error of a few ulps of 1
// (ulp(1) = 1.19e-7), which (1 ± tanh) passes on unscaled: 3e-7 ≈ 2.5 ulps(1);
// the relative part covers the dozen float32 roundings elsewhere.
func TestGELU32(t *testing.T) {
	s := math.Sqrt(2 / math.Pi)
	for x := -12.0; x <= 12; x += 1.0 / 1024 {
		th := math.Tanh(s * (x + 0.044715*x*x*x))
		g := 0.5 * x * (1 + th)
		d := 0.5*(1+th) + 0.5*x*(1-th*th)*s*(1+3*0.044715*x*x)
		x32 := float32(x)
		if e := math.Abs(float64(gelu32(x32)) - g); e > 3e-7+4e-7*math.Abs(g) {
			t.Fatalf("gelu32(%v) = %v, want %v (err %.3g)", x, gelu32(x32), g, e)
		}
		if e := math.Abs(float64(geluGrad32(x32)) - d); e > 3e-7+4e-7*math.Abs(d) {
			t.Fatalf("geluGrad32(%v) = %v, want %v (err %.3g)", x, geluGrad32(x32), d, e)
		}
	}
	inf := float32(math.Inf(1))
	if gelu32(inf) != inf || gelu32(-inf) == gelu32(-inf) || geluGrad32(inf) != 1 || math.Abs(float64(geluGrad32(-inf))) > 1e-30 {
		t.Errorf("gelu32(±Inf) = %v, %v, want +Inf, NaN; geluGrad32(±Inf) = %v, %v, want 1, ≈0 (gelu'(-10) ≈ -3e-36)",
			gelu32(inf), gelu32(-inf), geluGrad32(inf), geluGrad32(-inf))
	}
	if g := gelu32(-1e20); g != 0 {
		t.Errorf("gelu32(-1e20) = %v, want 0", g)
	}
}
