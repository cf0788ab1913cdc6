//go:build amd64 && !purego

#include "textflag.h"

// func gemvT4(x, w *float32, ldw, k int, y *float32, n int, bias, mask *float32, flags int)
//
// y[j] = dot(x[:k], w[j·ldw : j·ldw+k]) for j < n, then, by flags, plus y's old value
// (1), plus bias[j] (2), clamped at zero (4): the fully connected forward at batch 1
// with its bias and Relu, in one pass over the weights. Four rows at a time share
// each load of x (five loads per four FMAs instead of eight), with two accumulators
// per row so that eight FMAs are in flight; the four row sums are reduced together
// and stored as one vector. The last k%8 columns are read with VMASKMOVPS (mask: eight
// int32 lanes, all ones for the first k%8), so nothing past a row is touched. Then
// one row at a time for the last n%4.
TEXT ·gemvT4(SB), NOSPLIT, $0-72
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ ldw+16(FP), R8
	SHLQ $2, R8
	MOVQ k+24(FP), CX
	MOVQ y+32(FP), DX
	MOVQ n+40(FP), R13
	MOVQ bias+48(FP), BX
	MOVQ mask+56(FP), R14
	MOVQ flags+64(FP), R15
	VMOVUPS (R14), Y15
	MOVQ CX, R14
	ANDQ $-8, R14 // R14 = k rounded down to 8
	SHLQ $2, R14  // in bytes
	SHLQ $2, CX   // k in bytes
	LEAQ (R8)(R8*2), R9 // 3·ldw bytes

rows4:
	CMPQ R13, $4
	JLT rows1
	LEAQ (DI)(R8*1), R10
	LEAQ (DI)(R8*2), R11
	LEAQ (DI)(R9*1), R12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	MOVQ R14, R15
	SUBQ $64, R15 // last offset from which 16 whole columns fit
k16:
	CMPQ AX, R15
	JGT k8
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS 32(SI)(AX*1), Y9
	VFMADD231PS (DI)(AX*1), Y8, Y0
	VFMADD231PS (R10)(AX*1), Y8, Y1
	VFMADD231PS (R11)(AX*1), Y8, Y2
	VFMADD231PS (R12)(AX*1), Y8, Y3
	VFMADD231PS 32(DI)(AX*1), Y9, Y4
	VFMADD231PS 32(R10)(AX*1), Y9, Y5
	VFMADD231PS 32(R11)(AX*1), Y9, Y6
	VFMADD231PS 32(R12)(AX*1), Y9, Y7
	ADDQ $64, AX
	JMP k16
k8:
	CMPQ AX, R14
	JGE ktail
	VMOVUPS (SI)(AX*1), Y8
	VFMADD231PS (DI)(AX*1), Y8, Y0
	VFMADD231PS (R10)(AX*1), Y8, Y1
	VFMADD231PS (R11)(AX*1), Y8, Y2
	VFMADD231PS (R12)(AX*1), Y8, Y3
	ADDQ $32, AX
ktail:
	CMPQ AX, CX
	JGE reduce4
	VMASKMOVPS (SI)(AX*1), Y15, Y8
	VMASKMOVPS (DI)(AX*1), Y15, Y10
	VFMADD231PS Y10, Y8, Y4
	VMASKMOVPS (R10)(AX*1), Y15, Y11
	VFMADD231PS Y11, Y8, Y5
	VMASKMOVPS (R11)(AX*1), Y15, Y12
	VFMADD231PS Y12, Y8, Y6
	VMASKMOVPS (R12)(AX*1), Y15, Y13
	VFMADD231PS Y13, Y8, Y7
reduce4:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	MOVQ flags+64(FP), R15
	TESTQ $1, R15
	JZ nacc4
	VADDPS (DX), X0, X0
nacc4:
	TESTQ $2, R15
	JZ nbias4
	VADDPS (BX), X0, X0
	ADDQ $16, BX
nbias4:
	TESTQ $4, R15
	JZ nrelu4
	VXORPS X1, X1, X1
	VMAXPS X0, X1, X0 // max(0, v): a NaN v is kept
nrelu4:
	VMOVUPS X0, (DX)
	ADDQ $16, DX
	LEAQ (DI)(R8*4), DI
	SUBQ $4, R13
	JMP rows4

rows1:
	TESTQ R13, R13
	JZ done
	VXORPS Y0, Y0, Y0
	VXORPS Y4, Y4, Y4
	XORQ AX, AX
	MOVQ R14, R15
	SUBQ $64, R15
r1k16:
	CMPQ AX, R15
	JGT r1k8
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS 32(SI)(AX*1), Y9
	VFMADD231PS (DI)(AX*1), Y8, Y0
	VFMADD231PS 32(DI)(AX*1), Y9, Y4
	ADDQ $64, AX
	JMP r1k16
r1k8:
	CMPQ AX, R14
	JGE r1tail
	VMOVUPS (SI)(AX*1), Y8
	VFMADD231PS (DI)(AX*1), Y8, Y0
	ADDQ $32, AX
r1tail:
	CMPQ AX, CX
	JGE r1reduce
	VMASKMOVPS (SI)(AX*1), Y15, Y8
	VMASKMOVPS (DI)(AX*1), Y15, Y10
	VFMADD231PS Y10, Y8, Y4
r1reduce:
	VADDPS Y4, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	MOVQ flags+64(FP), R15
	TESTQ $1, R15
	JZ nacc1
	VADDSS (DX), X0, X0
nacc1:
	TESTQ $2, R15
	JZ nbias1
	VADDSS (BX), X0, X0
	ADDQ $4, BX
nbias1:
	TESTQ $4, R15
	JZ nrelu1
	VXORPS X1, X1, X1
	VMAXSS X0, X1, X0
nrelu1:
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R8, DI
	DECQ R13
	JMP rows1

done:
	VZEROUPPER
	RET
