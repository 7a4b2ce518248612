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
