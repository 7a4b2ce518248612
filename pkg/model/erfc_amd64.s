//go:build amd64 && !purego

#include "textflag.h"

// func erfcPrepAVX2(t, arg, x *float32, n int, k *[16]float32)
//
// Eight elements at a time, n a multiple of 8, the operations of
// erfcPrepRef in its order (no fused multiply-add): k is erfcK (the abs mask,
// 1/√2, 0.5, 1, erfcC[0..9], …).
TEXT ·erfcPrepAVX2(SB), NOSPLIT, $0-40
	MOVQ t+0(FP), DI
	MOVQ arg+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ k+32(FP), AX
	VBROADCASTSS 0(AX), Y15  // abs mask
	VBROADCASTSS 4(AX), Y14  // 1/√2
	VBROADCASTSS 8(AX), Y13  // 0.5
	VBROADCASTSS 12(AX), Y12 // 1
	VBROADCASTSS 16(AX), Y3  // c0
	VBROADCASTSS 20(AX), Y4  // c1
	VBROADCASTSS 24(AX), Y5
	VBROADCASTSS 28(AX), Y6
	VBROADCASTSS 32(AX), Y7
	VBROADCASTSS 36(AX), Y8
	VBROADCASTSS 40(AX), Y9
	VBROADCASTSS 44(AX), Y10
	VBROADCASTSS 48(AX), Y11 // c8

loop:
	CMPQ CX, $8
	JB   done
	VMOVUPS (DX), Y0
	VANDPS  Y15, Y0, Y0      // |x|
	VMULPS  Y14, Y0, Y0      // z = |x|·(1/√2)
	VMULPS  Y13, Y0, Y1      // 0.5·z
	VADDPS  Y12, Y1, Y1      // 1 + 0.5·z
	VDIVPS  Y1, Y12, Y1      // t = 1/(1 + 0.5·z)
	VBROADCASTSS 52(AX), Y2  // p = c9
	VMULPS  Y2, Y1, Y2
	VADDPS  Y11, Y2, Y2      // p = c8 + t·p
	VMULPS  Y2, Y1, Y2
	VADDPS  Y10, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y9, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y8, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y7, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y6, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y5, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y4, Y2, Y2
	VMULPS  Y2, Y1, Y2
	VADDPS  Y3, Y2, Y2       // p = c0 + t·p
	VMOVUPS Y1, (DI)
	VMULPS  Y0, Y0, Y1       // z·z
	VSUBPS  Y1, Y2, Y2       // p - z·z
	VMOVUPS Y2, (SI)
	ADDQ    $32, DX
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func geluErfOutAVX2(out, x, t, ex *float32, n int, k *[16]float32)
//
// geluErfOutRef, eight elements at a time (n a multiple of 8).
TEXT ·geluErfOutAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), DX
	MOVQ t+16(FP), SI
	MOVQ ex+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 8(AX), Y13  // 0.5
	VBROADCASTSS 12(AX), Y12 // 1
	VXORPS       Y11, Y11, Y11

outLoop:
	CMPQ CX, $8
	JB   outDone
	VMOVUPS   (DX), Y0
	VMULPS    (SI), Y13, Y1      // 0.5·t
	VMULPS    (BX), Y1, Y1       // h = (0.5·t)·ex
	VSUBPS    Y1, Y12, Y2        // 1 - h
	VCMPPS    $0x1d, Y11, Y0, Y3 // x ≥ 0 (ordered: false for NaN)
	VBLENDVPS Y3, Y2, Y1, Y1     // Φ = 1 - h if x ≥ 0, else h
	VMULPS    Y1, Y0, Y1         // x·Φ
	VMOVUPS   Y1, (DI)
	ADDQ      $32, DI
	ADDQ      $32, DX
	ADDQ      $32, SI
	ADDQ      $32, BX
	SUBQ      $8, CX
	JMP       outLoop

outDone:
	VZEROUPPER
	RET

// func geluErfPhiAVX2(t, arg, x, ex *float32, n int, k *[16]float32)
//
// geluErfPhiRef, eight elements at a time (n a multiple of 8).
TEXT ·geluErfPhiAVX2(SB), NOSPLIT, $0-48
	MOVQ t+0(FP), DI
	MOVQ arg+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ ex+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 8(AX), Y13  // 0.5
	VBROADCASTSS 12(AX), Y12 // 1
	VBROADCASTSS 56(AX), Y14 // sign mask
	VXORPS       Y11, Y11, Y11

phiLoop:
	CMPQ CX, $8
	JB   phiDone
	VMOVUPS   (DX), Y0
	VMULPS    (DI), Y13, Y1      // 0.5·t
	VMULPS    (BX), Y1, Y1       // h = (0.5·t)·ex
	VSUBPS    Y1, Y12, Y2        // 1 - h
	VCMPPS    $0x1d, Y11, Y0, Y3 // x ≥ 0
	VBLENDVPS Y3, Y2, Y1, Y1     // Φ
	VMOVUPS   Y1, (DI)
	VMULPS    Y0, Y0, Y4         // x·x
	VMULPS    Y13, Y4, Y4        // (x·x)·0.5
	VXORPS    Y14, Y4, Y4        // -((x·x)·0.5)
	VMOVUPS   Y4, (SI)
	ADDQ      $32, DI
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, BX
	SUBQ      $8, CX
	JMP       phiLoop

phiDone:
	VZEROUPPER
	RET

// func geluErfGradAVX2(out, x, phi, ex, d *float32, n int, k *[16]float32)
//
// geluErfGradRef, eight elements at a time (n a multiple of 8).
TEXT ·geluErfGradAVX2(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), DX
	MOVQ phi+16(FP), SI
	MOVQ ex+24(FP), BX
	MOVQ d+32(FP), R8
	MOVQ n+40(FP), CX
	MOVQ k+48(FP), AX
	VBROADCASTSS 60(AX), Y15 // 1/√(2π)

gradLoop:
	CMPQ CX, $8
	JB   gradDone
	VMULPS  (BX), Y15, Y1 // ex·(1/√(2π))
	VMULPS  (DX), Y1, Y1  // x·(…)
	VADDPS  (SI), Y1, Y1  // Φ + x·(…)
	VMULPS  (R8), Y1, Y1  // (…)·d
	VADDPS  (DI), Y1, Y1  // out + (…)·d
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, R8
	SUBQ    $8, CX
	JMP     gradLoop

gradDone:
	VZEROUPPER
	RET

// func swigluGradAVX2(dg, du, x, u, d, e *float32, n int, k *[16]float32)
//
// swigluGradStepRef, eight elements at a time (n a multiple of 8).
TEXT ·swigluGradAVX2(SB), NOSPLIT, $0-64
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ u+24(FP), BX
	MOVQ d+32(FP), R8
	MOVQ e+40(FP), R9
	MOVQ n+48(FP), CX
	MOVQ k+56(FP), AX
	VBROADCASTSS 12(AX), Y12 // 1

swiLoop:
	CMPQ CX, $8
	JB   swiDone
	VMOVUPS   (DX), Y0           // x = g
	VMOVUPS   (R8), Y2           // gi = d
	VMOVUPS   (R9), Y3           // e
	VADDPS    Y3, Y12, Y4        // 1 + e
	VDIVPS    Y4, Y12, Y4        // σ = 1/(1 + e)
	VSUBPS    Y4, Y12, Y5        // 1 - σ
	VMULPS    Y4, Y3, Y6         // e·σ
	VCMPPS    $0x11, Y12, Y3, Y7 // e < 1 (ordered: false for NaN)
	VBLENDVPS Y7, Y6, Y5, Y5     // ω = e·σ if e < 1, else 1 - σ
	VMULPS    (BX), Y2, Y6       // gi·u
	VMULPS    Y4, Y6, Y6         // a = (gi·u)·σ
	VMULPS    Y5, Y0, Y5         // x·ω
	VADDPS    Y12, Y5, Y5        // b = 1 + x·ω
	VMULPS    Y5, Y6, Y6         // a·b
	VADDPS    (DI), Y6, Y6
	VMOVUPS   Y6, (DI)           // dg += a·b
	VMULPS    Y4, Y0, Y7         // x·σ
	VMULPS    Y7, Y2, Y7         // gi·(x·σ)
	VADDPS    (SI), Y7, Y7
	VMOVUPS   Y7, (SI)           // du += gi·(x·σ)
	ADDQ      $32, DI
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, BX
	ADDQ      $32, R8
	ADDQ      $32, R9
	SUBQ      $8, CX
	JMP       swiLoop

swiDone:
	VZEROUPPER
	RET
