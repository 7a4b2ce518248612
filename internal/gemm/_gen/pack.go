package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// packStrips generates packStrip16 and packStrip32: copy k rows of w floats
// (w = 16 or 32), lds floats apart in src, to consecutive rows of dst,
//
//	dst[p*w + j] = src[p*lds + j]   (0 ≤ p < k, 0 ≤ j < w)
//
// the packing of a full strip of a non-transposed B operand (AVX YMM moves;
// a copy per row through runtime.memmove cost more than the move itself).
func packStrips() {
	for _, w := range []int{16, 32} {
		name := fmt.Sprintf("packStrip%d", w)
		TEXT(name, NOSPLIT, "func(dst, src *float32, lds, k int)")
		Doc(fmt.Sprintf("%s copies k rows of %d floats, lds apart in src, to consecutive rows of dst (see _gen/pack.go).", name, w))
		dst := Load(Param("dst"), GP64())
		src := Load(Param("src"), GP64())
		lds := Load(Param("lds"), GP64())
		SHLQ(U8(2), lds)
		k := Load(Param("k"), GP64())
		v := make([]VecVirtual, w/8)
		for i := range v {
			v[i] = YMM()
		}
		Label(name + "_loop")
		TESTQ(k, k)
		JE(LabelRef(name + "_done"))
		for i := range v {
			VMOVUPS(Mem{Base: src, Disp: 32 * i}, v[i])
		}
		for i := range v {
			VMOVUPS(v[i], Mem{Base: dst, Disp: 32 * i})
		}
		ADDQ(lds, src)
		ADDQ(U32(4*w), dst)
		DECQ(k)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// packRows generates packRows12 and packRows6: copy k rows of w floats
// (w = 12 or 6, the micro-panel heights mr of the AVX-512 and AVX2 kernels),
// lds floats apart in src, to consecutive rows of dst,
//
//	dst[p*w + j] = src[p*lds + j]   (0 ≤ p < k, 0 ≤ j < w)
//
// the packing of a full panel of a transposed A operand (TN: the weight
// gradient's doutᵀ), where a copy through runtime.memmove per row of 48 or
// 24 bytes cost more than the move itself.
func packRows() {
	for _, w := range []int{12, 6} {
		name := fmt.Sprintf("packRows%d", w)
		TEXT(name, NOSPLIT, "func(dst, src *float32, lds, k int)")
		Doc(fmt.Sprintf("%s copies k rows of %d floats, lds apart in src, to consecutive rows of dst (see _gen/pack.go).", name, w))
		dst := Load(Param("dst"), GP64())
		src := Load(Param("src"), GP64())
		lds := Load(Param("lds"), GP64())
		SHLQ(U8(2), lds)
		k := Load(Param("k"), GP64())
		Label(name + "_loop")
		TESTQ(k, k)
		JE(LabelRef(name + "_done"))
		if w == 12 {
			y, x := YMM(), XMM()
			VMOVUPS(Mem{Base: src}, y)
			VMOVUPS(Mem{Base: src, Disp: 32}, x)
			VMOVUPS(y, Mem{Base: dst})
			VMOVUPS(x, Mem{Base: dst, Disp: 32})
		} else {
			x, q := XMM(), XMM()
			VMOVUPS(Mem{Base: src}, x)
			VMOVSD(Mem{Base: src, Disp: 16}, q)
			VMOVUPS(x, Mem{Base: dst})
			VMOVSD(q, Mem{Base: dst, Disp: 16})
		}
		ADDQ(lds, src)
		ADDQ(U32(4*w), dst)
		DECQ(k)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// colSum generates colSum32: the column sums of k rows of 32 floats, lds
// floats apart in src, each in its own float32 accumulator starting at 0 and
// adding the rows in increasing order, then added to dst (the bias
// gradient's db += Σ_t dout[t,o]),
//
//	dst[j] += ((0 + src[j]) + src[lds+j]) + … + src[(k-1)*lds+j]   (0 ≤ j < 32)
func colSum() {
	TEXT("colSum32", NOSPLIT, "func(dst, src *float32, lds, k int)")
	Doc("colSum32 adds to dst[j] the sum of k rows of src (lds apart), 32 columns, rows in order (see _gen/pack.go).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	k := Load(Param("k"), GP64())
	acc := make([]VecVirtual, 4)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	Label("colSum32_loop")
	TESTQ(k, k)
	JE(LabelRef("colSum32_done"))
	for i := range acc {
		VADDPS(Mem{Base: src, Disp: 32 * i}, acc[i], acc[i])
	}
	ADDQ(lds, src)
	DECQ(k)
	JMP(LabelRef("colSum32_loop"))
	Label("colSum32_done")
	for i := range acc {
		VADDPS(Mem{Base: dst, Disp: 32 * i}, acc[i], acc[i])
		VMOVUPS(acc[i], Mem{Base: dst, Disp: 32 * i})
	}
	VZEROUPPER()
	RET()
}
