//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

var (
	avx512 = &kernelSet{
		name: "avx512", mr: 12, nr: 32, mc: 12 * 16,
		kern: []microKernel{kernAVX512R1, kernAVX512R2, kernAVX512R3, kernAVX512R4, kernAVX512R5, kernAVX512R6,
			kernAVX512R7, kernAVX512R8, kernAVX512R9, kernAVX512R10, kernAVX512R11, kernAVX512R12},
		rowK: []rowKernel{kernAVX512RowA1, kernAVX512RowA2, kernAVX512RowA3, kernAVX512RowA4, kernAVX512RowA5, kernAVX512RowA6,
			kernAVX512RowA7, kernAVX512RowA8, kernAVX512RowA9, kernAVX512RowA10, kernAVX512RowA11, kernAVX512RowA12},
	}
	avx2 = &kernelSet{
		name: "avx2", mr: 6, nr: 16, mc: 6 * 16,
		kern: []microKernel{kernAVX2R1, kernAVX2R2, kernAVX2R3, kernAVX2R4, kernAVX2R5, kernAVX2R6},
		rowK: []rowKernel{kernAVX2RowA1, kernAVX2RowA2, kernAVX2RowA3, kernAVX2RowA4, kernAVX2RowA5, kernAVX2RowA6},
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
		packRowsFast = func(w int, dst, src *float32, lds, k int) {
			if w == 12 {
				packRows12(dst, src, lds, k)
			} else {
				packRows6(dst, src, lds, k)
			}
		}
		colSum32Fast = colSum32
	}
	// Elementwise kernels: both families give the scalar reference's bits.
	// avx2's are AVX2+FMA (every CPU with the avx2 GEMM kernels has them);
	// avx512's tails use BZHI (BMI2), else it takes avx2's.
	avx2.exp, avx2.gelu, avx2.geluGrad = expAVX2, geluAVX2, geluGradAVX2
	avx2.pair = [3]pairKernel{pairAxpyDotsAVX2, pairAxpyAVX2, pairDotsAVX2}
	avx512.exp, avx512.gelu, avx512.geluGrad = expAVX2, geluAVX2, geluGradAVX2
	avx512.pair = avx2.pair
	if cpu.X86.HasBMI2 {
		avx512.exp, avx512.gelu, avx512.geluGrad = expAVX512, geluAVX512, geluGradAVX512
		avx512.pair = [3]pairKernel{pairAxpyDotsAVX512, pairAxpyAVX512, pairDotsAVX512}
	}
}

// supported returns the implementations this CPU (and OS) can run, widest
// first. x/sys/cpu reports AVX and AVX-512 only when the OS saves their registers.
func supported() []*kernelSet {
	var s []*kernelSet
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		s = append(s, avx512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		s = append(s, avx2)
	}
	return append(s, generic)
}

// cpuKey reads the CPU's vendor, display family and display model (Intel SDM
// vol. 2A, CPUID leaf 1: family = base family + extended family when the base
// is 15; model = extended model·16 + base model when the base family is 6 or 15).
func cpuKey() CPU {
	_, b, c, d := cpuid(0, 0)
	v := make([]byte, 0, 12)
	for _, r := range []uint32{b, d, c} {
		v = append(v, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	a, _, _, _ := cpuid(1, 0)
	fam, model := int(a>>8&0xf), int(a>>4&0xf)
	if fam == 15 {
		fam += int(a >> 20 & 0xff)
	}
	if fam == 6 || fam >= 15 {
		model += int(a>>16&0xf) << 4
	}
	return CPU{Vendor: string(v), Family: fam, Model: model}
}
