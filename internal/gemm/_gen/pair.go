package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// pair generates the AVX-512 kernels of PairBlock (../pair.go) over n
// elements, n a multiple of 16; per 8 elements, widened to float64:
//
//	axpy: dst += float32(a·gw + c·gl) (multiply, multiply, add in float64, one
//	      rounding to float32, then a float32 add), sw += gw, sl += gl
//	dots: acc[h·8+j] += gw·gl, acc[16+h·8+j] += gw², acc[32+h·8+j] += gl²
//	      for element k = 16i + 8h + j (a fused multiply-add, which equals
//	      the add of the product: float32·float32 is exact in float64)
func pair() {
	for _, v := range []struct {
		name       string
		axpy, dots bool
	}{{"pairAxpyDotsAVX512", true, true}, {"pairAxpyAVX512", true, false}, {"pairDotsAVX512", false, true}} {
		TEXT(v.name, NOSPLIT, "func(dst, sw, sl, gw, gl *float32, n int, a, c float64, acc *[48]float64)")
		Doc(v.name + " is PairBlock's kernel over n elements, n a multiple of 16 (see _gen/pair.go).")
		var dst, sw, sl Register
		if v.axpy {
			dst = Load(Param("dst"), GP64())
			sw = Load(Param("sw"), GP64())
			sl = Load(Param("sl"), GP64())
		}
		gw := Load(Param("gw"), GP64())
		gl := Load(Param("gl"), GP64())
		n := Load(Param("n"), GP64())
		var av, cv VecVirtual
		if v.axpy {
			av, cv = ZMM(), ZMM()
			VBROADCASTSD(NewParamAddr("a", 48), av)
			VBROADCASTSD(NewParamAddr("c", 56), cv)
		}
		var acc [3][2]VecVirtual
		var accp Register
		if v.dots {
			accp = Load(Param("acc"), GP64())
			for q := range acc {
				for h := range acc[q] {
					acc[q][h] = ZMM()
					VMOVUPD(Mem{Base: accp, Disp: 8 * (16*q + 8*h)}, acc[q][h])
				}
			}
		}
		off := GP64()
		XORQ(off, off)
		SHLQ(U8(2), n)
		x, y, t, u := ZMM(), ZMM(), ZMM(), ZMM()
		xs, ys, ds := YMM(), YMM(), YMM()
		Label(v.name + "_loop")
		CMPQ(off, n)
		JGE(LabelRef(v.name + "_done"))
		for h := 0; h < 2; h++ {
			m := func(base Register) Mem { return Mem{Base: base, Index: off, Scale: 1, Disp: 32 * h} }
			VMOVUPS(m(gw), xs)
			VMOVUPS(m(gl), ys)
			VCVTPS2PD(xs, x)
			VCVTPS2PD(ys, y)
			if v.dots {
				VFMADD231PD(x, y, acc[0][h])
				VFMADD231PD(x, x, acc[1][h])
				VFMADD231PD(y, y, acc[2][h])
			}
			if v.axpy {
				VMULPD(av, x, t)
				VMULPD(cv, y, u)
				VADDPD(u, t, t)
				VCVTPD2PS(t, ds)
				VADDPS(m(dst), ds, ds)
				VMOVUPS(ds, m(dst))
				VADDPS(m(sw), xs, xs)
				VMOVUPS(xs, m(sw))
				VADDPS(m(sl), ys, ys)
				VMOVUPS(ys, m(sl))
			}
		}
		ADDQ(U32(64), off)
		JMP(LabelRef(v.name + "_loop"))
		Label(v.name + "_done")
		if v.dots {
			for q := range acc {
				for h := range acc[q] {
					VMOVUPD(acc[q][h], Mem{Base: accp, Disp: 8 * (16*q + 8*h)})
				}
			}
		}
		VZEROUPPER()
		RET()
	}
}
