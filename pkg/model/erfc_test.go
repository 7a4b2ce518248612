package model

import (
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// sameBits32 reports whether a and b are the same float32, any NaN equal
// to any NaN (a NaN's payload depends on the operand order the compiler
// chose for the scalar code).
func sameBits32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestErfcPrepAllFloat32: the SIMD erfcPrep (geluErf32's first step: t and
// the exponential's argument) gives the scalar definition's bits
// (erfcPrepRef) on every one of the 2^32 float32 values with
// ENTANGLE_EXHAUSTIVE=1 (about a minute of CPU time); by default on every
// chunk of 2^16 consecutive patterns out of 257 (≈2^24 values over every
// exponent), plus every length 0..40 (the scalar tail). The rest of
// geluErf32 is gemm.Exp (its own exhaustive check) and scalar code, so the
// erf GELU and its derivative have the same bits with or without the SIMD
// kernel. Skipped with -short or where the CPU has no such kernel.
func TestErfcPrepAllFloat32(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if erfcPrepFast == nil {
		t.Skip("no SIMD erfcPrep on this CPU")
	}
	for n := range 41 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i-20) * 0.37
		}
		t1, a1, t2, a2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		erfcPrep(t1, a1, x)
		erfcPrepRef(t2, a2, x)
		for i := range x {
			if !sameBits32(t1[i], t2[i]) || !sameBits32(a1[i], a2[i]) {
				t.Fatalf("length %d, x %v: erfcPrep (%v, %v), erfcPrepRef (%v, %v)", n, x[i], t1[i], a1[i], t2[i], a2[i])
			}
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
			x := make([]float32, chunk)
			t1, a1, t2, a2 := make([]float32, chunk), make([]float32, chunk), make([]float32, chunk), make([]float32, chunk)
			for bad.Load() == nil {
				c := (next.Add(1) - 1) * stride
				if c >= 1<<32/chunk {
					return
				}
				for i := range x {
					x[i] = math.Float32frombits(uint32(c*chunk) + uint32(i))
				}
				if n := erfcPrepFast(t1, a1, x); n != chunk {
					bad.Store("erfcPrepFast did not take a whole chunk")
					return
				}
				erfcPrepRef(t2, a2, x)
				for i, v := range x {
					if !sameBits32(t1[i], t2[i]) || !sameBits32(a1[i], a2[i]) {
						bad.Store([5]float32{v, t1[i], a1[i], t2[i], a2[i]})
						return
					}
				}
				checked.Add(chunk)
			}
		})
	}
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("erfcPrepFast differs from erfcPrepRef: [x, t, arg, t ref, arg ref] = %v", b)
	}
	t.Logf("%d float32 values, identical bits", checked.Load())
}
