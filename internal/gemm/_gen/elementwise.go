package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Elementwise AVX-512 kernels: exp, GELU (tanh form) and its backward, 16
// float32 lanes per step over n elements (n a multiple of 16; the Go side
// does the tail). Every lane performs exactly the operation sequence of the
// pure-Go reference in ../elementwise.go (exp32, gelu32, geluGrad32): float32
// multiplies, adds, one correctly rounded division and fused multiply-adds in
// the same places, so the two give identical bits.

// bcast returns a ZMM register holding v in every lane.
func bcast(v float32) VecVirtual {
	g := GP32()
	MOVL(U32(math.Float32bits(v)), g)
	z := ZMM()
	VPBROADCASTD(g, z)
	return z
}

// expConsts are the broadcast constants of exp16.
type expConsts struct {
	lo, hi, log2e, ln2hi, ln2lo VecVirtual
	c                           []VecVirtual // Taylor coefficients 1/7!, 1/6!, …, 1/1!, 1/0!
}

func newExpConsts() expConsts {
	k := expConsts{
		lo: bcast(-104), hi: bcast(89), log2e: bcast(float32(math.Log2E)),
		ln2hi: bcast(0.693359375), ln2lo: bcast(float32(math.Ln2 - 0.693359375)),
	}
	f := 1.0
	cs := make([]float32, 8)
	for i := 0; i < 8; i++ {
		cs[i] = float32(1 / f)
		f *= float64(i + 1)
	}
	for i := 7; i >= 0; i-- {
		k.c = append(k.c, bcast(cs[i]))
	}
	return k
}

// exp16 emits res = exp32(x) lane by lane (see exp32 in ../elementwise.go).
func exp16(k expConsts, x, res VecVirtual) {
	t, n, r := ZMM(), ZMM(), ZMM()
	VMAXPS(x, k.lo, t) // NaN in x propagates (MAXPS returns its second source on NaN)
	VMINPS(t, k.hi, t)
	VMULPS(k.log2e, t, n)
	VRNDSCALEPS(U8(0), n, n) // round to nearest even
	VMOVAPS(t, r)
	VFNMADD231PS(n, k.ln2hi, r) // r = t - n·ln2hi
	VFNMADD231PS(n, k.ln2lo, r) // r -= n·ln2lo
	VMOVAPS(k.c[0], res)
	for _, c := range k.c[1:] {
		VFMADD213PS(c, r, res) // res = res·r + c
	}
	VSCALEFPS(n, res, res) // res·2^n, rounded once
}

// elementwiseLoop emits a 16-lane loop over n elements, then the last n mod 16
// elements under a lane mask (masked loads read nothing past the end and give
// 0 in the unused lanes; masked stores write only the used lanes). body emits
// one step with the given load and store.
func elementwiseLoop(name string, n Register, body func(load func(base Register, v VecVirtual), store func(v VecVirtual, base Register))) {
	off := GP64()
	XORQ(off, off)
	end := GP64()
	MOVQ(n, end)
	ANDQ(I32(-16), end)
	SHLQ(U8(2), end)
	full := func(base Register, v VecVirtual) { VMOVUPS(Mem{Base: base, Index: off, Scale: 1}, v) }
	fullSt := func(v VecVirtual, base Register) { VMOVUPS(v, Mem{Base: base, Index: off, Scale: 1}) }
	Label(name + "_loop")
	CMPQ(off, end)
	JGE(LabelRef(name + "_tail"))
	body(full, fullSt)
	ADDQ(U32(64), off)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	rem := GP64()
	MOVQ(n, rem)
	ANDQ(U32(15), rem)
	JE(LabelRef(name + "_done"))
	ones, mask := GP64(), GP64()
	MOVQ(U32(0xffff), ones)
	BZHIQ(rem, ones, mask) // the low rem bits
	KMOVW(mask.As32(), K1)
	body(func(base Register, v VecVirtual) { VMOVUPS_Z(Mem{Base: base, Index: off, Scale: 1}, K1, v) },
		func(v VecVirtual, base Register) { VMOVUPS(v, K1, Mem{Base: base, Index: off, Scale: 1}) })
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func elementwise() {
	TEXT("expAVX512", NOSPLIT, "func(dst, src *float32, n int)")
	Doc("expAVX512 sets dst[i] = exp32(src[i]) for i < n (see _gen/elementwise.go).")
	{
		dst := Load(Param("dst"), GP64())
		src := Load(Param("src"), GP64())
		n := Load(Param("n"), GP64())
		k := newExpConsts()
		x, e := ZMM(), ZMM()
		elementwiseLoop("exp", n, func(load func(Register, VecVirtual), store func(VecVirtual, Register)) {
			load(src, x)
			exp16(k, x, e)
			store(e, dst)
		})
	}

	for _, bwd := range []bool{false, true} {
		name, sig := "geluAVX512", "func(out, inp *float32, n int)"
		doc := "geluAVX512 sets out[i] = gelu32(inp[i]) for i < n (see _gen/elementwise.go)."
		if bwd {
			name, sig = "geluGradAVX512", "func(dinp, inp, dout *float32, n int)"
			doc = "geluGradAVX512 adds dinp[i] = fma(geluGrad32(inp[i]), dout[i], dinp[i]) for i < n (see _gen/elementwise.go)."
		}
		TEXT(name, NOSPLIT, sig)
		Doc(doc)
		var out, dinp, dout Register
		if bwd {
			dinp = Load(Param("dinp"), GP64())
		} else {
			out = Load(Param("out"), GP64())
		}
		inp := Load(Param("inp"), GP64())
		if bwd {
			dout = Load(Param("dout"), GP64())
		}
		n := Load(Param("n"), GP64())
		k := newExpConsts()
		one, two, half := bcast(1), bcast(2), bcast(0.5)
		A, S2 := bcast(geluA), bcast(2*geluS)
		var A3, S VecVirtual
		if bwd {
			A3, S = bcast(3*geluA), bcast(geluS)
		}
		c80 := bcast(80)
		var lo10, hi10 VecVirtual
		if bwd {
			lo10, hi10 = bcast(-10), bcast(10)
		}
		x, x2, kk, u, e, q, hx, o := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
		elementwiseLoop(name, n, func(load func(Register, VecVirtual), store func(VecVirtual, Register)) {
			load(inp, x)
			if bwd {
				VMAXPS(x, lo10, x) // NaN propagates (see exp16)
				VMINPS(x, hi10, x)
			}
			// geluCore: x2, hx, p (in e), q
			VMULPS(x, x, x2)
			VMOVAPS(one, kk)
			VFMADD231PS(x2, A, kk) // kk = 1 + A·x²
			VMULPS(S2, x, u)
			VMULPS(kk, u, u)  // u = 2·sqrt(2/π)·x·(1 + A·x²)
			VMINPS(u, c80, u) // NaN propagates
			exp16(k, u, e)
			VADDPS(one, e, q)
			VDIVPS(q, two, q)   // q = 2/(e+1) = 1 - tanh
			VMULPS(q, e, e)     // p = e·q = 1 + tanh
			VMULPS(half, x, hx) // x/2
			if !bwd {
				VMULPS(e, hx, o)
				store(o, out)
				return
			}
			VMULPS(q, e, q)   // p·q = 1 - tanh²
			VMULPS(q, hx, hx) // w = x/2·(1 - tanh²)
			VMOVAPS(one, kk)
			VFMADD231PS(x2, A3, kk) // 1 + 3A·x²
			VMULPS(S, kk, kk)       // sqrt(2/π)·(1 + 3A·x²)
			VMULPS(half, e, o)      // p/2
			VFMADD231PS(hx, kk, o)  // gelu'(x) = w·k3 + p/2
			load(dout, u)
			load(dinp, e)
			VFMADD231PS(o, u, e)
			store(e, dinp)
		})
	}
}

// geluA and geluS are GELU's constants as float32: 0.044715 and sqrt(2/π).
var (
	geluA = float32(0.044715)
	geluS = float32(math.Sqrt(2 / math.Pi))
)
