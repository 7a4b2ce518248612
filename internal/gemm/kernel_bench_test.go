package gemm

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkKernelPeak reports the GFLOP/s of each implementation's full
// mr×nr micro-kernel (packed A and row-major A) with every operand in L1: a
// k = 256 panel product repeated on the same tile, no packing, no edges. It
// is the ceiling the products of BenchmarkGEMM are measured against.
func BenchmarkKernelPeak(b *testing.B) {
	for _, name := range Impls() {
		ks := byName(name)
		if ks.kern == nil {
			continue
		}
		const k = 256
		mr, nr := ks.mr, ks.nr
		rng := rand.New(rand.NewPCG(1, 3))
		f := func(n int) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64()) * 1e-3
			}
			return x
		}
		a, bp, c := f(mr*k), f(k*nr), f(mr*nr)
		flops := 2 * float64(mr*nr*k)
		b.Run(name+"/packed", func(b *testing.B) {
			for range b.N {
				ks.kern[mr-1](k, &a[0], &bp[0], nr, &c[0], nr, 0)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(name+"/rowA", func(b *testing.B) {
			for range b.N {
				ks.rowK[mr-1](k, &a[0], k, &bp[0], nr, &c[0], nr, 0)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
