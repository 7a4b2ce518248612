package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// sameBits32 reports whether a and b are the same float32, any NaN equal
// to any NaN.
func sameBits32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestAdamWKernel: the SIMD AdamW update (adamwFast) gives the bits of its
// scalar definition (adamwRef) for parameters, gradients and moments drawn
// from every float32 bit pattern (NaN, ±Inf, subnormals, ±0 included),
// over several steps t and hyperparameters (β, ε, lr, weight decay), and at
// every length 0..40 (the scalar tail); with ENTANGLE_EXHAUSTIVE=1 the
// gradient runs through all 2^32 float32 values (by default every chunk of
// 2^16 out of 257). NaN results compare equal whatever their payload.
// Skipped where the CPU has no such kernel.
func TestAdamWKernel(t *testing.T) {
	if adamwFast == nil {
		t.Skip("no SIMD AdamW kernel on this CPU")
	}
	rng := rand.New(rand.NewPCG(7, 0))
	anyBits := func() float32 { return math.Float32frombits(rng.Uint32()) }
	typical := func(s float64) float32 { return float32(s * rng.NormFloat64()) }
	type hyper struct {
		a      Adam
		lr, wd float64
		t      int
	}
	hypers := []hyper{
		{DefaultAdam(), 1e-4, 0, 0}, {DefaultAdam(), 1e-5, 0.01, 3},
		{Adam{Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}, 0.5, 0.1, 10}, {Adam{Beta1: 0, Beta2: 0, Eps: 1e-3}, 1, 0, 1000},
	}
	check := func(what string, h hyper, p, g, m, v []float32) error {
		o := &AdamW[float32]{Adam: h.a, WeightDecay: h.wd, T: h.t}
		c1, c2 := o.complements()
		tt := float64(o.T + 1)
		bc1, bc2 := 1-math.Pow(h.a.Beta1, tt), 1-math.Pow(h.a.Beta2, tt)
		eps := h.a.Eps
		k := [12]float64{h.a.Beta1, c1, h.a.Beta2, c2, 1 - h.lr*h.wd, h.lr, bc1, bc2, eps, eps, eps, eps}
		p2, m2, v2 := slices.Clone(p), slices.Clone(m), slices.Clone(v)
		adamwPart(p, g, m, v, &k)
		adamwRef(p2, g, m2, v2, &k)
		for i := range p {
			if !sameBits32(p[i], p2[i]) || !sameBits32(m[i], m2[i]) || !sameBits32(v[i], v2[i]) {
				return fmt.Errorf("%s: element %d (g %v): θ, m, v = %v, %v, %v; scalar definition %v, %v, %v",
					what, i, g[i], p[i], m[i], v[i], p2[i], m2[i], v2[i])
			}
		}
		return nil
	}
	for _, h := range hypers {
		for n := range 41 {
			p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range p {
				p[i], g[i], m[i], v[i] = typical(0.1), typical(1e-3), typical(1e-4), float32(math.Abs(float64(typical(1e-6))))
			}
			if err := check(fmt.Sprintf("%+v length %d", h, n), h, p, g, m, v); err != nil {
				t.Fatal(err)
			}
		}
		const n = 1 << 16
		p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range p {
			p[i], g[i], m[i], v[i] = anyBits(), anyBits(), anyBits(), anyBits()
			if i%2 == 0 { // typical magnitudes in half of them
				p[i], g[i], m[i], v[i] = typical(0.1), typical(1e-3), typical(1e-4), float32(math.Abs(float64(typical(1e-6))))
			}
		}
		if err := check(fmt.Sprintf("%+v bit patterns", h), h, p, g, m, v); err != nil {
			t.Fatal(err)
		}
	}
	stride := uint32(257)
	if os.Getenv("ENTANGLE_EXHAUSTIVE") == "1" {
		stride = 1
	}
	const chunk = 1 << 16
	p, g, m, v := make([]float32, chunk), make([]float32, chunk), make([]float32, chunk), make([]float32, chunk)
	checked := 0
	for c := uint32(0); c < 1<<32/chunk; c += stride {
		for i := range g {
			g[i] = math.Float32frombits(c*chunk + uint32(i))
			p[i], m[i], v[i] = typical(0.1), typical(1e-4), float32(math.Abs(float64(typical(1e-6))))
		}
		if err := check("every gradient value", hypers[1], p, g, m, v); err != nil {
			t.Fatal(err)
		}
		checked += chunk
	}
	t.Logf("%d gradient values, identical bits", checked)
}
