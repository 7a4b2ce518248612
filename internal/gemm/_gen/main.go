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
			kernel(s, mr)
		}
	}
	Generate()
}

func kernel(s isa, mr int) {
	name := fmt.Sprintf("%sR%d", s.name, mr)
	TEXT(name, NOSPLIT, "func(k int, a, b *float32, bs int, c *float32, ldc int)")
	Doc(fmt.Sprintf("%s updates C[0:%d, 0:%d] += A·B in k steps (see _gen/main.go).", name, mr, s.nv*s.width))
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	bs := Load(Param("bs"), GP64())
	SHLQ(U8(2), bs) // bytes per step of b
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)

	acc := make([][]VecVirtual, mr)
	row := GP64()
	MOVQ(c, row)
	for i := range acc {
		acc[i] = make([]VecVirtual, s.nv)
		for v := range acc[i] {
			acc[i][v] = s.vec()
			VMOVUPS(Mem{Base: row, Disp: 4 * s.width * v}, acc[i][v])
		}
		if i+1 < mr {
			ADDQ(ldc, row)
		}
	}
	bv := make([]VecVirtual, s.nv)
	for v := range bv {
		bv[v] = s.vec()
	}
	t := []VecVirtual{s.vec(), s.vec()}

	step := func(u int) {
		// one step p: b row at (b), a column at u*MR*4(a)
		for v := range bv {
			VMOVUPS(Mem{Base: b, Disp: 4 * s.width * v}, bv[v])
		}
		for i := 0; i < mr; i++ {
			ti := t[i%2]
			VBROADCASTSS(Mem{Base: a, Disp: 4 * (u*s.mr + i)}, ti)
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
	ADDQ(U32(4*s.mr*s.unroll), a)
	SUBQ(U32(s.unroll), k)
	JMP(LabelRef(name + "_loopU"))

	Label(name + "_tail")
	TESTQ(k, k)
	JE(LabelRef(name + "_store"))
	step(0)
	ADDQ(U32(4*s.mr), a)
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
