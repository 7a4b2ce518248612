//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

var (
	avx512 = &kernelSet{
		name: "avx512", mr: 12, nr: 32, mc: 12 * 16,
		kern: []microKernel{kernAVX512R1, kernAVX512R2, kernAVX512R3, kernAVX512R4, kernAVX512R5, kernAVX512R6,
			kernAVX512R7, kernAVX512R8, kernAVX512R9, kernAVX512R10, kernAVX512R11, kernAVX512R12},
	}
	avx2 = &kernelSet{
		name: "avx2", mr: 6, nr: 16, mc: 6 * 16,
		kern: []microKernel{kernAVX2R1, kernAVX2R2, kernAVX2R3, kernAVX2R4, kernAVX2R5, kernAVX2R6},
	}
)

func init() {
	if cpu.X86.HasAVX {
		transpose8x8Fast, transpose4x4Fast = transpose8x8, transpose4x4
		packStripFast = func(w int, dst, src *float32, lds, k int) {
			if w == 32 {
				packStrip32(dst, src, lds, k)
			} else {
				packStrip16(dst, src, lds, k)
			}
		}
	}
	if active == avx512 && cpu.X86.HasBMI2 { // the tails use BZHI
		expFast, geluFast, geluGradFast = expAVX512, geluAVX512, geluGradAVX512
		pairFast = [3]func(dst, sw, sl, gw, gl *float32, n int, a, c float64, acc *[48]float64){pairAxpyDotsAVX512, pairAxpyAVX512, pairDotsAVX512}
	}
}

// supported returns the implementations this CPU (and OS) can run, best first.
// x/sys/cpu reports AVX and AVX-512 only when the OS saves their registers.
func supported() []*kernelSet {
	var s []*kernelSet
	if cpu.X86.HasAVX512F {
		s = append(s, avx512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		s = append(s, avx2)
	}
	return append(s, generic)
}
