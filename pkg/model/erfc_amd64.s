//go:build amd64 && !purego

#include "textflag.h"

// func erfcPrepAVX2(t, arg, x *float32, n int, k *[14]float32)
//
// Eight elements at a time, n a multiple of 8, the operations of
// erfcPrepRef in its order (no fused multiply-add): k holds the abs mask,
// 1/√2, 0.5, 1 and erfcC[0..9].
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
