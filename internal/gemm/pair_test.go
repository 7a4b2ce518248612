package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pairScalar is PairBlock's specification written out element by element.
func pairScalar(dst, sw, sl, gw, gl []float32, a, c float64, acc *[48]float64) {
	for k := range gw {
		x, y := float64(gw[k]), float64(gl[k])
		if dst != nil {
			dst[k] += float32(float64(a*x) + float64(c*y))
			sw[k] += gw[k]
			sl[k] += gl[k]
		}
		if acc != nil {
			acc[k%16] += x * y
			acc[16+k%16] += x * x
			acc[32+k%16] += y * y
		}
	}
}

// clone copies x (nil stays nil).
func clone(x []float32) []float32 {
	if x == nil {
		return nil
	}
	return append([]float32(nil), x...)
}

// TestPairBlock: PairBlock of every implementation (SIMD where available) equals the scalar
// specification bit for bit in all three modes, on lengths around multiples
// of 16, starting from nonzero accumulators; SumLanes is within float64
// rounding of the exact-order sum.
func TestPairBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 0))
	f := func(n int, s float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * s)
		}
		return x
	}
	for _, n := range []int{0, 1, 15, 16, 17, 33, 1000, 1024} {
		for mode := range 3 {
			gw, gl := f(n, 1e-3), f(n, 2e-3)
			d1, w1, l1 := f(n, 1), f(n, 1), f(n, 1)
			d2, w2, l2 := append([]float32(nil), d1...), append([]float32(nil), w1...), append([]float32(nil), l1...)
			var acc1, acc2 [48]float64
			for i := range acc1 {
				acc1[i] = rng.NormFloat64()
			}
			acc2 = acc1
			a1, a2 := &acc1, &acc2
			if mode == 1 {
				a1, a2 = nil, nil
			}
			if mode == 2 {
				d1, w1, l1, d2, w2, l2 = nil, nil, nil, nil, nil, nil
			}
			pairScalar(d2, w2, l2, gw, gl, -0.3, 0.7, a2)
			for _, name := range Impls() {
				ks := byName(name)
				d, w, l := clone(d1), clone(w1), clone(l1)
				acc := acc1
				a := &acc
				if a1 == nil {
					a = nil
				}
				ks.pairBlock(d, w, l, gw, gl, -0.3, 0.7, a)
				for i := range d {
					if math.Float32bits(d[i]) != math.Float32bits(d2[i]) || w[i] != w2[i] || l[i] != l2[i] {
						t.Fatalf("%s n=%d mode=%d: element %d differs", name, n, mode, i)
					}
				}
				if a != nil && acc != acc2 {
					t.Fatalf("%s n=%d mode=%d: lanes differ", name, n, mode)
				}
			}
		}
	}
	var acc [48]float64
	gw, gl := f(4096, 1), f(4096, 1)
	PairBlock(nil, nil, nil, gw, gl, 0, 0, &acc)
	dot, ww, _ := SumLanes(&acc)
	var ed, ew float64
	for k := range gw {
		ed += float64(gw[k]) * float64(gl[k])
		ew += float64(gw[k]) * float64(gw[k])
	}
	// 4096 terms of size ~1: float64 summation error ≲ 4096·2^-53·Σ|terms| ≈ 1e-9
	if math.Abs(dot-ed) > 1e-9 || math.Abs(ww-ew) > 1e-9 {
		t.Errorf("SumLanes = %v, %v; sequential sums %v, %v", dot, ww, ed, ew)
	}
}
