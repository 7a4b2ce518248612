//go:build amd64 && !purego

#include "textflag.h"

// func adamwAVX2(p, gr, m, v *float32, n int, k *[12]float64)
//
// adamwRef for n elements (a multiple of 4), four at a time in float64,
// the operations of the scalar loop in its order, each rounded as there (no
// fused multiply-add). k: β1, 1−β1, β2, 1−β2, decay, lr, bc1, bc2, ε ×4.
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ v+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSD 0(AX), Y8   // β1
	VBROADCASTSD 8(AX), Y9   // 1−β1
	VBROADCASTSD 16(AX), Y10 // β2
	VBROADCASTSD 24(AX), Y11 // 1−β2
	VBROADCASTSD 32(AX), Y12 // decay
	VBROADCASTSD 40(AX), Y13 // lr
	VBROADCASTSD 48(AX), Y14 // bc1
	VBROADCASTSD 56(AX), Y15 // bc2

loop:
	CMPQ CX, $4
	JB   done
	VCVTPS2PD  (SI), Y0     // g
	VCVTPS2PD  (DX), Y1
	VMULPD     Y8, Y1, Y1   // β1·m
	VMULPD     Y9, Y0, Y2   // (1−β1)·g
	VADDPD     Y2, Y1, Y1   // m = β1·m + (1−β1)·g
	VCVTPS2PD  (BX), Y3
	VMULPD     Y10, Y3, Y3  // β2·v
	VMULPD     Y11, Y0, Y4  // (1−β2)·g
	VMULPD     Y0, Y4, Y4   // ((1−β2)·g)·g
	VADDPD     Y4, Y3, Y3   // v = β2·v + (1−β2)·g·g
	VCVTPD2PSY Y1, X5
	VMOVUPS    X5, (DX)     // m rounded to float32
	VCVTPD2PSY Y3, X6
	VMOVUPS    X6, (BX)     // v rounded to float32
	VCVTPS2PD  (DI), Y7
	VMULPD     Y12, Y7, Y7  // θ·decay
	VDIVPD     Y14, Y1, Y1  // m/bc1
	VMULPD     Y13, Y1, Y1  // lr·(m/bc1)
	VDIVPD     Y15, Y3, Y3  // v/bc2
	VSQRTPD    Y3, Y3
	VADDPD     64(AX), Y3, Y3 // √(v/bc2) + ε
	VDIVPD     Y3, Y1, Y1   // lr·(m/bc1)/(√(v/bc2) + ε)
	VSUBPD     Y1, Y7, Y7   // θ·decay − …
	VCVTPD2PSY Y7, X7
	VMOVUPS    X7, (DI)
	ADDQ       $16, DI
	ADDQ       $16, SI
	ADDQ       $16, DX
	ADDQ       $16, BX
	SUBQ       $4, CX
	JMP        loop

done:
	VZEROUPPER
	RET
