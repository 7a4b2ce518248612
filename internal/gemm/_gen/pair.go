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

// pairAVX2 generates PairBlock's AVX2 kernels: the AVX-512 kernels' operation
// sequence on 4 float64 lanes per register, 16 elements per iteration in
// four quarters (acc[16q + 4h + j] for element 16i + 4h + j), so the lanes
// and their sums are the same as the AVX-512 kernels' and the scalar code's.
// The 12 accumulators take most of the 16 YMM registers: a and c are read
// from broadcast copies on the stack.
func pairAVX2() {
	for _, v := range []struct {
		name       string
		axpy, dots bool
	}{{"pairAxpyDotsAVX2", true, true}, {"pairAxpyAVX2", true, false}, {"pairDotsAVX2", false, true}} {
		TEXT(v.name, NOSPLIT, "func(dst, sw, sl, gw, gl *float32, n int, a, c float64, acc *[48]float64)")
		Doc(v.name + " is PairBlock's kernel over n elements, n a multiple of 16 (see _gen/pair.go).")
		var dst, sw, sl Register
		var am, cm Mem
		if v.axpy {
			dst = Load(Param("dst"), GP64())
			sw = Load(Param("sw"), GP64())
			sl = Load(Param("sl"), GP64())
			am, cm = AllocLocal(32), AllocLocal(32)
			t := YMM()
			VBROADCASTSD(NewParamAddr("a", 48), t)
			VMOVUPD(t, am)
			VBROADCASTSD(NewParamAddr("c", 56), t)
			VMOVUPD(t, cm)
		}
		gw := Load(Param("gw"), GP64())
		gl := Load(Param("gl"), GP64())
		n := Load(Param("n"), GP64())
		var acc [3][4]VecVirtual
		var accp Register
		if v.dots {
			accp = Load(Param("acc"), GP64())
			for q := range acc {
				for h := range acc[q] {
					acc[q][h] = YMM()
					VMOVUPD(Mem{Base: accp, Disp: 8 * (16*q + 4*h)}, acc[q][h])
				}
			}
		}
		off := GP64()
		XORQ(off, off)
		SHLQ(U8(2), n)
		Label(v.name + "_loop")
		CMPQ(off, n)
		JGE(LabelRef(v.name + "_done"))
		for h := 0; h < 4; h++ {
			m := func(base Register) Mem { return Mem{Base: base, Index: off, Scale: 1, Disp: 16 * h} }
			x, y := YMM(), YMM()
			VCVTPS2PD(m(gw), x)
			VCVTPS2PD(m(gl), y)
			if v.dots {
				VFMADD231PD(x, y, acc[0][h])
				VFMADD231PD(x, x, acc[1][h])
				VFMADD231PD(y, y, acc[2][h])
			}
			if v.axpy {
				t, u := YMM(), YMM()
				VMULPD(am, x, t)
				VMULPD(cm, y, u)
				VADDPD(u, t, t)
				ds := XMM()
				VCVTPD2PSY(t, ds)
				VADDPS(m(dst), ds, ds)
				VMOVUPS(ds, m(dst))
				xs, ys := XMM(), XMM()
				VMOVUPS(m(gw), xs)
				VADDPS(m(sw), xs, xs)
				VMOVUPS(xs, m(sw))
				VMOVUPS(m(gl), ys)
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
					VMOVUPD(acc[q][h], Mem{Base: accp, Disp: 8 * (16*q + 4*h)})
				}
			}
		}
		VZEROUPPER()
		RET()
	}
}
