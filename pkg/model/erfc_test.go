package model

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"entangle/internal/gemm"
)

// sameBits32 reports whether a and b are the same float32, any NaN equal
// to any NaN (a NaN's payload depends on the operand order the compiler
// chose for the scalar code).
func sameBits32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// geluErfRef is geluErf32 on the scalar definitions of its steps only.
func geluErfRef(out, x, dout []float32) {
	n := len(x)
	t, arg, ex := make([]float32, n), make([]float32, n), make([]float32, n)
	erfcPrepRef(t, arg, x)
	gemm.Exp(ex, arg)
	if dout == nil {
		geluErfOutRef(out, x, t, ex)
		return
	}
	geluErfPhiRef(t, arg, x, ex)
	gemm.Exp(ex, arg)
	geluErfGradRef(out, x, t, ex, dout)
}

// TestGeluErfAllFloat32: the exact GELU and its backward in float32
// (geluErf32, whose steps run on SIMD kernels where the CPU has them) give
// the bits of the scalar definitions of the steps (geluErfRef; both on
// gemm.Exp, which has its own exhaustive check) on every one of the 2^32
// float32 values with ENTANGLE_EXHAUSTIVE=1 (a few minutes of CPU time),
// by default on every chunk of 2^16 consecutive patterns out of 257
// (≈2^24 values over every exponent), and at every length 0..40 (the
// scalar tails). NaN results compare equal whatever their payload.
// Skipped with -short or where the CPU has no such kernels.
func TestGeluErfAllFloat32(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if erfcPrepFast == nil || geluErfOutFast == nil || geluErfPhiFast == nil || geluErfGradFast == nil {
		t.Skip("no SIMD erf GELU kernels on this CPU")
	}
	check := func(x, d []float32) error {
		n := len(x)
		for _, back := range []bool{false, true} {
			got, want := make([]float32, n), make([]float32, n)
			var dd []float32
			if back {
				dd = d
				for i := range got {
					got[i], want[i] = 0.25, 0.25
				}
			}
			geluErf32(got, x, dd)
			geluErfRef(want, x, dd)
			for i := range x {
				if !sameBits32(got[i], want[i]) {
					return fmt.Errorf("backward %v, x %v (bits %#x), d %v: %v, scalar definition %v", back, x[i], math.Float32bits(x[i]), d[i], got[i], want[i])
				}
			}
		}
		return nil
	}
	for n := range 41 {
		x, d := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], d[i] = float32(i-20)*0.37, 1+float32(i%7)*0.25
		}
		if err := check(x, d); err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
	}
	stride := uint64(257)
	if os.Getenv("ENTANGLE_EXHAUSTIVE") == "1" {
		stride = 1
	}
	const chunk = 1 << 16
	var next, checked atomic.Uint64
	var bad atomic.Value
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			x, d := make([]float32, chunk), make([]float32, chunk)
			for i := range d {
				d[i] = 1 + float32(i%7)*0.25
			}
			for bad.Load() == nil {
				c := (next.Add(1) - 1) * stride
				if c >= 1<<32/chunk {
					return
				}
				for i := range x {
					x[i] = math.Float32frombits(uint32(c*chunk) + uint32(i))
				}
				if err := check(x, d); err != nil {
					bad.Store(err)
					return
				}
				checked.Add(chunk)
			}
		})
	}
	wg.Wait()
	if err := bad.Load(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d float32 values, forward and backward, identical bits", checked.Load())
}

// TestSwiGLUAllFloat32: SwiGLU's backward in float32 (swigluGrad32, whose
// step after the exponentials runs on a SIMD kernel where the CPU has one)
// gives the bits of that step's scalar definition (swigluGradStepRef, on
// the same gemm.Exp) for every one of the 2^32 float32 values of the gate
// g with ENTANGLE_EXHAUSTIVE=1, with u and d from a fixed pattern, by
// default on every chunk of 2^16 consecutive patterns out of 257, and at
// every length 0..40 (the scalar tails). NaN results compare equal
// whatever their payload. Skipped with -short or where the CPU has no such
// kernel.
func TestSwiGLUAllFloat32(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if swigluGradFast == nil {
		t.Skip("no SIMD SwiGLU kernel on this CPU")
	}
	// one row of FF = len(g) gates and as many ups: inp = [g; u]
	check := func(g, u, d []float32) error {
		n := len(g)
		inp := append(append(make([]float32, 0, 2*n), g...), u...)
		got, want := make([]float32, 2*n), make([]float32, 2*n)
		for i := range got {
			got[i], want[i] = 0.25, 0.25
		}
		swigluGrad32(got, inp, d, 1, n)
		neg, e := make([]float32, n), make([]float32, n)
		for i, x := range g {
			neg[i] = -x
		}
		gemm.Exp(e, neg)
		swigluGradStepRef(want[:n], want[n:], g, u, d, e)
		for i := range got {
			if !sameBits32(got[i], want[i]) {
				k := i % max(n, 1)
				return fmt.Errorf("element %d (g %v bits %#x, u %v, d %v): %v, scalar definition %v", i, g[k], math.Float32bits(g[k]), u[k], d[k], got[i], want[i])
			}
		}
		return nil
	}
	pattern := func(n int) (u, d []float32) {
		u, d = make([]float32, n), make([]float32, n)
		for i := range u {
			u[i], d[i] = float32(i%5)*0.5-1, 1+float32(i%7)*0.25
		}
		return u, d
	}
	for n := range 41 {
		g := make([]float32, n)
		for i := range g {
			g[i] = float32(i-20) * 0.37
		}
		u, d := pattern(n)
		if err := check(g, u, d); err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
	}
	stride := uint64(257)
	if os.Getenv("ENTANGLE_EXHAUSTIVE") == "1" {
		stride = 1
	}
	const chunk = 1 << 16
	var next, checked atomic.Uint64
	var bad atomic.Value
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			g := make([]float32, chunk)
			u, d := pattern(chunk)
			for bad.Load() == nil {
				c := (next.Add(1) - 1) * stride
				if c >= 1<<32/chunk {
					return
				}
				for i := range g {
					g[i] = math.Float32frombits(uint32(c*chunk) + uint32(i))
				}
				if err := check(g, u, d); err != nil {
					bad.Store(err)
					return
				}
				checked.Add(chunk)
			}
		})
	}
	wg.Wait()
	if err := bad.Load(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d float32 gate values, identical bits", checked.Load())
}
