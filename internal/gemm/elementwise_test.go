package gemm

import (
	"math"
	"math/rand/v2"
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

// TestElementwiseFast: the SIMD kernels (when the CPU runs them) agree with
// the scalar reference bit for bit on the exp sweep and on GELU arguments,
// for every length 0..40 (tails) and for long slices; NaN gives NaN.
func TestElementwiseFast(t *testing.T) {
	if expFast == nil {
		t.Skip("no SIMD elementwise kernels on this machine/implementation")
	}
	xs := expSweep()
	got := make([]float32, len(xs))
	Exp(got, xs)
	for i, x := range xs {
		w := exp32(x)
		if math.Float32bits(got[i]) != math.Float32bits(w) && !(w != w && got[i] != got[i]) {
			t.Fatalf("Exp(%v) = %v, exp32 = %v", x, got[i], w)
		}
	}
	rng := rand.New(rand.NewPCG(2, 0))
	g := make([]float32, 1<<15)
	for i := range g {
		g[i] = float32(rng.NormFloat64() * 4)
	}
	g = append(g, 0, 1e-20, -1e-20, 20, -20, 1e5, -1e5, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 33, 40, len(g)} {
		in := g[len(g)-n:]
		out := make([]float32, n)
		GELU(out, in)
		dout := make([]float32, n)
		dinp := make([]float32, n)
		for i := range dout {
			dout[i] = float32(rng.NormFloat64())
			dinp[i] = float32(rng.NormFloat64())
		}
		want := append([]float32(nil), dinp...)
		GELUBackward(dinp, in, dout)
		for i, x := range in {
			w := gelu32(x)
			wd := fma32(geluGrad32(x), dout[i], want[i])
			same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b) }
			if !same(out[i], w) || !same(dinp[i], wd) {
				t.Fatalf("n=%d x=%v: GELU %v, GELUBackward %v; scalar %v, %v", n, x, out[i], dinp[i], w, wd)
			}
		}
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
