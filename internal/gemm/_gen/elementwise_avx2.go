package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Elementwise AVX2+FMA kernels: exp, GELU and its backward, 8 float32 lanes
// per step, with the same lane-by-lane operation sequence as the AVX-512
// kernels (elementwise.go) and the scalar reference (../elementwise.go), so
// all three give identical bits. Two differences from AVX-512:
//
//   - AVX2 has no VSCALEFPS. exp32's last step, p·2^n rounded once, is done as
//     (p·2^n1)·2^n2 with n1 = n>>1 (arithmetic shift) and n2 = n - n1, each
//     power of two built from its bit pattern ((n_i+127)<<23). After the clamp,
//     n = roundeven(t·log2 e) lies in [-150, 128], so n1, n2 ∈ [-75, 64] are
//     normal powers of two; p ∈ [0.70, 1.42] makes p·2^n1 a normal float32,
//     hence exact (only the exponent changes). The second multiply is the one
//     IEEE rounding of the exact p·2^n: to a denormal, 0 or +Inf exactly where
//     VSCALEFPS and float32(math.Ldexp(p, n)) round.
//   - No embedded broadcasts or lane masks: constants come from the 32-byte
//     rows of a read-only table (ewConsts), and the last n mod 8 elements go
//     through VMASKMOVPS with a mask from comparing lane indices with n mod 8
//     (masked loads give 0 in unused lanes; masked stores write only used lanes).
//
// MAXPS/MINPS return their second source (the first Go operand) when either
// is NaN, which is how NaN propagates like Go's min and max; the NaN's source
// must therefore be a register, the constant the other operand, also a register.

// ewConst names the rows of the AVX2 constant table.
type ewConst int

const (
	cLo    ewConst = 0
	cHi    ewConst = 1
	cLog2e ewConst = 2
	cLn2hi ewConst = 3
	cLn2lo ewConst = 4
	cC0    ewConst = 5 // 8 rows: Taylor coefficients 1/7!, …, 1/0!
	cOne   ewConst = 13
	cTwo   ewConst = 14
	cHalf  ewConst = 15
	cA     ewConst = 16
	cS2    ewConst = 17
	cA3    ewConst = 18
	cS     ewConst = 19
	c80    ewConst = 20
	cLo10  ewConst = 21
	cHi10  ewConst = 22
	cBias  ewConst = 23 // int32 127
	cIota  ewConst = 24 // int32 0, 1, …, 7
)

// ewTable emits the constant table and returns its base.
func ewTable() Mem {
	tab := GLOBL("ewConsts", RODATA|NOPTR)
	row := func(r ewConst, bits uint32) {
		for j := 0; j < 8; j++ {
			DATA(32*int(r)+4*j, U32(bits))
		}
	}
	f := func(r ewConst, v float32) { row(r, math.Float32bits(v)) }
	f(cLo, -104)
	f(cHi, 89)
	f(cLog2e, float32(math.Log2E))
	f(cLn2hi, 0.693359375)
	f(cLn2lo, float32(math.Ln2-0.693359375))
	fact := 1.0
	cs := make([]float32, 8)
	for i := 0; i < 8; i++ {
		cs[i] = float32(1 / fact)
		fact *= float64(i + 1)
	}
	for i := 0; i < 8; i++ {
		f(cC0+ewConst(i), cs[7-i])
	}
	f(cOne, 1)
	f(cTwo, 2)
	f(cHalf, 0.5)
	f(cA, geluA)
	f(cS2, 2*geluS)
	f(cA3, 3*geluA)
	f(cS, geluS)
	f(c80, 80)
	f(cLo10, -10)
	f(cHi10, 10)
	row(cBias, 127)
	for j := 0; j < 8; j++ {
		DATA(32*int(cIota)+4*j, U32(uint32(j)))
	}
	return tab
}

// ewc returns the memory operand of row r of the table.
func ewc(tab Mem, r ewConst) Mem { return tab.Offset(32 * int(r)) }

// exp8 emits res = exp32(x) lane by lane (see exp16 and exp32).
func exp8(tab Mem, x, res VecVirtual) {
	t, n, r := YMM(), YMM(), YMM()
	VMOVUPS(ewc(tab, cLo), t)
	VMAXPS(x, t, t) // NaN in x propagates
	VMOVUPS(ewc(tab, cHi), n)
	VMINPS(t, n, t)
	VMULPS(ewc(tab, cLog2e), t, n)
	VROUNDPS(U8(0), n, n) // round to nearest even
	VMOVAPS(t, r)
	VFNMADD231PS(ewc(tab, cLn2hi), n, r) // r = t - n·ln2hi
	VFNMADD231PS(ewc(tab, cLn2lo), n, r) // r -= n·ln2lo
	VMOVUPS(ewc(tab, cC0), res)
	for i := 1; i < 8; i++ {
		VFMADD213PS(ewc(tab, cC0+ewConst(i)), r, res) // res = res·r + c
	}
	// res·2^n = (res·2^n1)·2^n2, n1 = n>>1, n2 = n - n1: one rounding
	n1, n2 := YMM(), YMM()
	VCVTPS2DQ(n, n2) // exact: n is an integer
	VPSRAD(U8(1), n2, n1)
	VPSUBD(n1, n2, n2)
	VPADDD(ewc(tab, cBias), n1, n1)
	VPSLLD(U8(23), n1, n1)
	VPADDD(ewc(tab, cBias), n2, n2)
	VPSLLD(U8(23), n2, n2)
	VMULPS(n1, res, res)
	VMULPS(n2, res, res)
}

// elementwiseLoopAVX2 is elementwiseLoop with 8 lanes and a VMASKMOVPS tail.
func elementwiseLoopAVX2(name string, tab Mem, n Register, body func(load func(base Register, v VecVirtual), store func(v VecVirtual, base Register))) {
	off := GP64()
	XORQ(off, off)
	end := GP64()
	MOVQ(n, end)
	ANDQ(I32(-8), end)
	SHLQ(U8(2), end)
	Label(name + "_loop")
	CMPQ(off, end)
	JGE(LabelRef(name + "_tail"))
	body(func(base Register, v VecVirtual) { VMOVUPS(Mem{Base: base, Index: off, Scale: 1}, v) },
		func(v VecVirtual, base Register) { VMOVUPS(v, Mem{Base: base, Index: off, Scale: 1}) })
	ADDQ(U32(32), off)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	rem := GP64()
	MOVQ(n, rem)
	ANDQ(U32(7), rem)
	JE(LabelRef(name + "_done"))
	mask := YMM()
	VMOVD(rem.As32(), mask.AsX())
	VPBROADCASTD(mask.AsX(), mask)
	VPCMPGTD(ewc(tab, cIota), mask, mask) // lane j: rem > j
	body(func(base Register, v VecVirtual) { VMASKMOVPS(Mem{Base: base, Index: off, Scale: 1}, mask, v) },
		func(v VecVirtual, base Register) { VMASKMOVPS(v, mask, Mem{Base: base, Index: off, Scale: 1}) })
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func elementwiseAVX2() {
	tab := ewTable()

	TEXT("expAVX2", NOSPLIT, "func(dst, src *float32, n int)")
	Doc("expAVX2 sets dst[i] = exp32(src[i]) for i < n (see _gen/elementwise_avx2.go).")
	{
		dst := Load(Param("dst"), GP64())
		src := Load(Param("src"), GP64())
		n := Load(Param("n"), GP64())
		x, e := YMM(), YMM()
		elementwiseLoopAVX2("expAVX2", tab, n, func(load func(Register, VecVirtual), store func(VecVirtual, Register)) {
			load(src, x)
			exp8(tab, x, e)
			store(e, dst)
		})
	}

	for _, bwd := range []bool{false, true} {
		name, sig := "geluAVX2", "func(out, inp *float32, n int)"
		doc := "geluAVX2 sets out[i] = gelu32(inp[i]) for i < n (see _gen/elementwise_avx2.go)."
		if bwd {
			name, sig = "geluGradAVX2", "func(dinp, inp, dout *float32, n int)"
			doc = "geluGradAVX2 adds dinp[i] = fma(geluGrad32(inp[i]), dout[i], dinp[i]) for i < n (see _gen/elementwise_avx2.go)."
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
		elementwiseLoopAVX2(name, tab, n, func(load func(Register, VecVirtual), store func(VecVirtual, Register)) {
			x, x2, kk, u, e, q, hx, o, tmp := YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
			load(inp, x)
			if bwd {
				VMOVUPS(ewc(tab, cLo10), tmp)
				VMAXPS(x, tmp, x) // NaN propagates
				VMOVUPS(ewc(tab, cHi10), tmp)
				VMINPS(x, tmp, x)
			}
			// geluCore: x2, hx, p (in e), q
			VMULPS(x, x, x2)
			VMOVUPS(ewc(tab, cOne), kk)
			VFMADD231PS(ewc(tab, cA), x2, kk) // kk = 1 + A·x²
			VMULPS(ewc(tab, cS2), x, u)
			VMULPS(kk, u, u) // u = 2·sqrt(2/π)·x·(1 + A·x²)
			VMOVUPS(ewc(tab, c80), tmp)
			VMINPS(u, tmp, u) // NaN propagates
			exp8(tab, u, e)
			VADDPS(ewc(tab, cOne), e, q)
			VMOVUPS(ewc(tab, cTwo), tmp)
			VDIVPS(q, tmp, q)              // q = 2/(e+1) = 1 - tanh
			VMULPS(q, e, e)                // p = e·q = 1 + tanh
			VMULPS(ewc(tab, cHalf), x, hx) // x/2
			if !bwd {
				VMULPS(e, hx, o)
				store(o, out)
				return
			}
			VMULPS(q, e, q)   // p·q = 1 - tanh²
			VMULPS(q, hx, hx) // w = x/2·(1 - tanh²)
			VMOVUPS(ewc(tab, cOne), kk)
			VFMADD231PS(ewc(tab, cA3), x2, kk) // 1 + 3A·x²
			VMULPS(ewc(tab, cS), kk, kk)       // sqrt(2/π)·(1 + 3A·x²)
			VMULPS(ewc(tab, cHalf), e, o)      // p/2
			VFMADD231PS(hx, kk, o)             // gelu'(x) = w·k3 + p/2
			load(dout, u)
			load(dinp, e)
			VFMADD231PS(o, u, e)
			store(e, dinp)
		})
	}
}
