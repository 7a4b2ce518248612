// Command _gen generates the SIMD micro-kernels of package gemm with avo.
//
// Run from internal/gemm: go generate (see gemm.go's //go:generate line), i.e.
//
//	cd _gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg gemm
//
// Every kernel computes a register tile C[0:mr, 0:NR] of C += A·B from packed
// operands, with one float32 accumulator per element of C, updated by one fused
// multiply-add per step p = 0, 1, ..., k-1 in that order:
//
//	acc[i][j] = C[i][j];  for p: acc[i][j] = fma(a[p*MR+i], b[p*bs+j], acc[i][j]);  C[i][j] = acc[i][j]
//
// or, with zero ≠ 0, acc[i][j] = +0 instead of C[i][j] (C is written, not read:
// the first k block of a product that sets C, with the bits of clearing C first).
//
// a is a packed A micro-panel (MR floats per step, row i of the tile at offset i),
// b points at NR consecutive floats per step, bs floats apart. Kernels exist for
// every mr in 1..MR so that row edges need no copying.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa describes one kernel family.
type isa struct {
	name   string // function name prefix
	width  int    // float32 lanes per vector register
	mr     int    // rows of the full tile (the packing stride of A)
	nv     int    // vector registers per row: NR = nv*width
	unroll int    // steps per loop iteration
	vec    func() VecVirtual
}

func main() {
	ConstraintExpr("amd64,!purego")
	for _, s := range []isa{
		{name: "kernAVX512", width: 16, mr: 12, nv: 2, unroll: 4, vec: ZMM},
		{name: "kernAVX2", width: 8, mr: 6, nv: 2, unroll: 4, vec: YMM},
	} {
		for mr := 1; mr <= s.mr; mr++ {
			kernel(s, mr, false)
		}
		for mr := 1; mr <= s.mr; mr++ {
			kernel(s, mr, true)
		}
	}
	transpose8()
	transpose4()
	elementwise()
	elementwiseAVX2()
	cpuidGen()
	pair()
	pairAVX2()
	packStrips()
	packRows()
	colSum()
	Generate()
}

// kernel emits one micro-kernel. With rowA, A is not packed: row i of the
// tile is read at a + i*lda (row-major, lda floats apart), step p at column p,
// which spares packing a row-major A (the forward's activations, the input
// gradient's output gradient) into panels; the loads, FMAs and their order
// are the same.
func kernel(s isa, mr int, rowA bool) {
	name := fmt.Sprintf("%sR%d", s.name, mr)
	sig := "func(k int, a, b *float32, bs int, c *float32, ldc int, zero int)"
	doc := fmt.Sprintf("%s updates C[0:%d, 0:%d] += A·B in k steps, or sets C = A·B with zero ≠ 0 (see _gen/main.go).", name, mr, s.nv*s.width)
	if rowA {
		name = fmt.Sprintf("%sRowA%d", s.name, mr)
		sig = "func(k int, a *float32, lda int, b *float32, bs int, c *float32, ldc int, zero int)"
		doc = fmt.Sprintf("%s updates C[0:%d, 0:%d] += A·B in k steps, or sets C = A·B with zero ≠ 0; A row-major with leading dimension lda (see _gen/main.go).", name, mr, s.nv*s.width)
	}
	TEXT(name, NOSPLIT, sig)
	Doc(doc)
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	// rowA: rows 0-3 at a + {0,1,2,3}·lda, 4-7 at a4 + …, 8-11 at a8 + …
	var lda, lda3 Register
	bases := []Register{a}
	if rowA {
		lda = Load(Param("lda"), GP64())
		SHLQ(U8(2), lda)
		if mr > 3 {
			lda3 = GP64()
			LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
		}
		for r := 4; r < mr; r += 4 {
			nb := GP64()
			LEAQ(Mem{Base: bases[len(bases)-1], Index: lda, Scale: 4}, nb)
			bases = append(bases, nb)
		}
	}
	aAt := func(u, i int) Mem {
		if !rowA {
			return Mem{Base: a, Disp: 4 * (u*s.mr + i)}
		}
		base := bases[i/4]
		switch i % 4 {
		case 0:
			return Mem{Base: base, Disp: 4 * u}
		case 1:
			return Mem{Base: base, Index: lda, Scale: 1, Disp: 4 * u}
		case 2:
			return Mem{Base: base, Index: lda, Scale: 2, Disp: 4 * u}
		}
		return Mem{Base: base, Index: lda3, Scale: 1, Disp: 4 * u}
	}
	advanceA := func(steps int) {
		if !rowA {
			ADDQ(U32(4*s.mr*steps), a)
			return
		}
		for _, r := range bases {
			ADDQ(U32(4*steps), r)
		}
	}
	b := Load(Param("b"), GP64())
	bs := Load(Param("bs"), GP64())
	SHLQ(U8(2), bs) // bytes per step of b
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)

	// the accumulators start at C, or at +0 with zero ≠ 0 (C is not read):
	// fma(a, b, +0) rounds like fma(a, b, c) on a C cleared to +0, so a set
	// gives the bits of clearing C and accumulating
	acc := make([][]VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]VecVirtual, s.nv)
		for v := range acc[i] {
			acc[i][v] = s.vec()
		}
	}
	zero := Load(Param("zero"), GP64())
	TESTQ(zero, zero)
	JNE(LabelRef(name + "_zero"))
	row := GP64()
	MOVQ(c, row)
	for i := range acc {
		for v := range acc[i] {
			VMOVUPS(Mem{Base: row, Disp: 4 * s.width * v}, acc[i][v])
		}
		if i+1 < mr {
			ADDQ(ldc, row)
		}
	}
	JMP(LabelRef(name + "_loopU"))
	Label(name + "_zero")
	for i := range acc {
		for v := range acc[i] {
			if s.width == 16 {
				VPXORD(acc[i][v], acc[i][v], acc[i][v]) // AVX-512F (VXORPS zmm needs DQ)
			} else {
				VXORPS(acc[i][v], acc[i][v], acc[i][v])
			}
		}
	}
	bv := make([]VecVirtual, s.nv)
	for v := range bv {
		bv[v] = s.vec()
	}
	t := []VecVirtual{s.vec(), s.vec()}

	step := func(u int) {
		// one step p: b row at (b), a column at aAt(u, ·)
		for v := range bv {
			VMOVUPS(Mem{Base: b, Disp: 4 * s.width * v}, bv[v])
		}
		for i := 0; i < mr; i++ {
			ti := t[i%2]
			VBROADCASTSS(aAt(u, i), ti)
			for v := range bv {
				VFMADD231PS(bv[v], ti, acc[i][v])
			}
		}
		ADDQ(bs, b)
	}

	Comment("unrolled loop: unroll steps per iteration")
	Label(name + "_loopU")
	CMPQ(k, U32(s.unroll))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < s.unroll; u++ {
		step(u)
	}
	advanceA(s.unroll)
	SUBQ(U32(s.unroll), k)
	JMP(LabelRef(name + "_loopU"))

	Label(name + "_tail")
	TESTQ(k, k)
	JE(LabelRef(name + "_store"))
	step(0)
	advanceA(1)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_store")
	for i := range acc {
		for v := range acc[i] {
			VMOVUPS(acc[i][v], Mem{Base: c, Disp: 4 * s.width * v})
		}
		if i+1 < mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// transpose8 generates transpose8x8: nb blocks of an 8×8 transpose,
//
//	dst[(8b+q)*ldd + i] = src[i*lds + 8b+q]   (0 ≤ i, q < 8, 0 ≤ b < nb)
//
// i.e. 8 rows of 8·nb floats of src become 8·nb rows of 8 floats of dst
// (the packing of a row-major operand into step-major panels). Each block is
// the usual AVX sequence: unpack pairs of rows, shuffle quads, permute lanes.
func transpose8() {
	TEXT("transpose8x8", NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int, nb int)")
	Doc("transpose8x8 transposes nb 8×8 blocks of src (8 rows) into dst (see _gen/main.go).")
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	nb := Load(Param("nb"), GP64())
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	src4 := GP64()
	ldd3 := GP64()
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	dst4 := GP64()
	r := make([]VecVirtual, 8)
	t := make([]VecVirtual, 8)
	for i := range r {
		r[i] = YMM()
		t[i] = YMM()
	}
	Label("t8_loop")
	TESTQ(nb, nb)
	JE(LabelRef("t8_done"))
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, src4)
	rowAt := func(base, ld, ld3 Register, i int) Mem {
		switch i % 4 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ld, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ld, Scale: 2}
		}
		return Mem{Base: base, Index: ld3, Scale: 1}
	}
	for i := 0; i < 8; i++ {
		base := src
		if i >= 4 {
			base = src4
		}
		VMOVUPS(rowAt(base, lds, lds3, i), r[i])
	}
	for i := 0; i < 8; i += 2 {
		VUNPCKLPS(r[i+1], r[i], t[i])   // r_i0 r_j0 r_i1 r_j1 | …4,5
		VUNPCKHPS(r[i+1], r[i], t[i+1]) // r_i2 r_j2 r_i3 r_j3 | …6,7
	}
	// s[0..3] from rows 0-3, s[4..7] from rows 4-7 (reuse r)
	for h := 0; h < 2; h++ {
		b := 4 * h
		VSHUFPS(U8(0x44), t[b+2], t[b], r[b])     // col 0 (and 4) of rows b..b+3
		VSHUFPS(U8(0xEE), t[b+2], t[b], r[b+1])   // col 1 (and 5)
		VSHUFPS(U8(0x44), t[b+3], t[b+1], r[b+2]) // col 2 (and 6)
		VSHUFPS(U8(0xEE), t[b+3], t[b+1], r[b+3]) // col 3 (and 7)
	}
	for q := 0; q < 4; q++ {
		VPERM2F128(U8(0x20), r[q+4], r[q], t[q])   // column q
		VPERM2F128(U8(0x31), r[q+4], r[q], t[q+4]) // column q+4
	}
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, dst4)
	for q := 0; q < 8; q++ {
		base := dst
		if q >= 4 {
			base = dst4
		}
		VMOVUPS(t[q], rowAt(base, ldd, ldd3, q))
	}
	ADDQ(U32(32), src)
	LEAQ(Mem{Base: dst4, Index: ldd, Scale: 4}, dst)
	DECQ(nb)
	JMP(LabelRef("t8_loop"))
	Label("t8_done")
	VZEROUPPER()
	RET()
}

// transpose4 generates transpose4x4: nb blocks of a 4×4 transpose, as
// transpose8x8 with 4 rows: dst[(4b+q)*ldd + i] = src[i*lds + 4b+q].
func transpose4() {
	TEXT("transpose4x4", NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int, nb int)")
	Doc("transpose4x4 transposes nb 4×4 blocks of src (4 rows) into dst (see _gen/main.go).")
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	nb := Load(Param("nb"), GP64())
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	ldd3 := GP64()
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	r := make([]VecVirtual, 4)
	t := make([]VecVirtual, 4)
	for i := range r {
		r[i] = XMM()
		t[i] = XMM()
	}
	at := func(base, ld, ld3 Register, i int) Mem {
		switch i {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ld, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ld, Scale: 2}
		}
		return Mem{Base: base, Index: ld3, Scale: 1}
	}
	Label("t4_loop")
	TESTQ(nb, nb)
	JE(LabelRef("t4_done"))
	for i := 0; i < 4; i++ {
		VMOVUPS(at(src, lds, lds3, i), r[i])
	}
	VUNPCKLPS(r[1], r[0], t[0]) // a0 b0 a1 b1
	VUNPCKHPS(r[1], r[0], t[1]) // a2 b2 a3 b3
	VUNPCKLPS(r[3], r[2], t[2]) // c0 d0 c1 d1
	VUNPCKHPS(r[3], r[2], t[3]) // c2 d2 c3 d3
	VSHUFPS(U8(0x44), t[2], t[0], r[0])
	VSHUFPS(U8(0xEE), t[2], t[0], r[1])
	VSHUFPS(U8(0x44), t[3], t[1], r[2])
	VSHUFPS(U8(0xEE), t[3], t[1], r[3])
	for q := 0; q < 4; q++ {
		VMOVUPS(r[q], at(dst, ldd, ldd3, q))
	}
	ADDQ(U32(16), src)
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, dst)
	DECQ(nb)
	JMP(LabelRef("t4_loop"))
	Label("t4_done")
	RET()
}

// cpuidGen generates cpuid, the CPUID instruction for leaf and subleaf
// (select.go reads the vendor, family and model with it).
func cpuidGen() {
	TEXT("cpuid", NOSPLIT, "func(leaf, sub uint32) (a, b, c, d uint32)")
	Doc("cpuid executes CPUID with EAX = leaf, ECX = sub (see _gen/main.go).")
	Load(Param("leaf"), EAX)
	Load(Param("sub"), ECX)
	CPUID()
	Store(EAX, Return("a"))
	Store(EBX, Return("b"))
	Store(ECX, Return("c"))
	Store(EDX, Return("d"))
	RET()
}
