//go:build amd64 && !purego

#include "textflag.h"

// ZERO4 clears the accumulators Y0-Y3.
#define ZERO4 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3

// ZERO8 clears the accumulators Y0-Y7.
#define ZERO8 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7

// func dotAVX2(x, y *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $32
	JLT dot8
dot32:
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS 0(DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE dot32
dot8:
	CMPQ CX, $8
	JLT dotsum
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP dot8
dotsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	TESTQ CX, CX
	JZ dotdone
dot1:
	VMOVSS (SI), X4
	VFMADD231SS (DI), X4, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JNZ dot1
dotdone:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y15
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
axpy32:
	CMPQ CX, $32
	JLT axpy8
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VFMADD231PS 0(SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP axpy32
axpy8:
	CMPQ CX, $8
	JLT axpy1
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP axpy8
axpy1:
	TESTQ CX, CX
	JZ axpydone
	VMOVSS (DI), X0
	VFMADD231SS (SI), X15, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP axpy1
axpydone:
	VZEROUPPER
	RET

// func spmv16(rowPtr *int32, idx *uint16, val *float32, x, y *float32, rows int)
//
// y[i] = Σ val[p]·x[idx[p]] over p in [rowPtr[i], rowPtr[i+1]) for i < rows: the CSR
// product with one input vector. Eight nonzeros per step: their indices come in two
// 8-byte loads and are unpacked in registers, the eight x values are inserted into one
// vector, and one 8-wide FMA with val adds them, 12 loads per 8 nonzeros instead of 24
// for a scalar loop (VGATHERDPS measured slower on this AMD CPU); then four at a time,
// then one. The row loop is here too: a call per row cost as much as the row at 90%
// sparsity. The caller checks every idx[p] < len(x).
TEXT ·spmv16(SB), NOSPLIT, $0-48
	MOVQ rowPtr+0(FP), R10
	MOVQ idx+8(FP), R13
	MOVQ val+16(FP), DX
	MOVQ x+24(FP), R8
	MOVQ y+32(FP), R11
	MOVQ rows+40(FP), R12
	TESTQ R12, R12
	JZ done
row:
	MOVLQSX (R10), AX
	MOVLQSX 4(R10), CX
	SUBQ AX, CX
	LEAQ (R13)(AX*2), SI
	LEAQ (DX)(AX*4), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
gat16:
	CMPQ CX, $16
	JLT gat8
	MOVQ (SI), AX
	MOVQ 8(SI), BX
	MOVWQZX AX, R9
	VMOVSS (R8)(R9*4), X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x10, (R8)(R9*4), X4, X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x20, (R8)(R9*4), X4, X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x30, (R8)(R9*4), X4, X4
	MOVWQZX BX, R9
	VMOVSS (R8)(R9*4), X5
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x10, (R8)(R9*4), X5, X5
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x20, (R8)(R9*4), X5, X5
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x30, (R8)(R9*4), X5, X5
	VINSERTF128 $1, X5, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	MOVQ (SI), AX
	MOVQ 8(SI), BX
	MOVWQZX AX, R9
	VMOVSS (R8)(R9*4), X6
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x10, (R8)(R9*4), X6, X6
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x20, (R8)(R9*4), X6, X6
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x30, (R8)(R9*4), X6, X6
	MOVWQZX BX, R9
	VMOVSS (R8)(R9*4), X7
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x10, (R8)(R9*4), X7, X7
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x20, (R8)(R9*4), X7, X7
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x30, (R8)(R9*4), X7, X7
	VINSERTF128 $1, X7, Y6, Y6
	VFMADD231PS (DI), Y6, Y1
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP gat16
gat8:
	CMPQ CX, $8
	JLT gat4
	MOVQ (SI), AX
	MOVQ 8(SI), BX
	MOVWQZX AX, R9
	VMOVSS (R8)(R9*4), X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x10, (R8)(R9*4), X4, X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x20, (R8)(R9*4), X4, X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x30, (R8)(R9*4), X4, X4
	MOVWQZX BX, R9
	VMOVSS (R8)(R9*4), X5
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x10, (R8)(R9*4), X5, X5
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x20, (R8)(R9*4), X5, X5
	SHRQ $16, BX
	MOVWQZX BX, R9
	VINSERTPS $0x30, (R8)(R9*4), X5, X5
	VINSERTF128 $1, X5, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
gat4:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	CMPQ CX, $4
	JLT gathadd
	MOVQ (SI), AX
	MOVWQZX AX, R9
	VMOVSS (R8)(R9*4), X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x10, (R8)(R9*4), X4, X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x20, (R8)(R9*4), X4, X4
	SHRQ $16, AX
	MOVWQZX AX, R9
	VINSERTPS $0x30, (R8)(R9*4), X4, X4
	VFMADD231PS (DI), X4, X0
	ADDQ $8, SI
	ADDQ $16, DI
	SUBQ $4, CX
gathadd:
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
gat1:
	TESTQ CX, CX
	JZ rowdone
	MOVWQZX (SI), AX
	VMOVSS (R8)(AX*4), X4
	VFMADD231SS (DI), X4, X0
	ADDQ $2, SI
	ADDQ $4, DI
	DECQ CX
	JMP gat1
rowdone:
	MOVSS X0, (R11)
	ADDQ $4, R11
	ADDQ $4, R10
	DECQ R12
	JNZ row
done:
	VZEROUPPER
	RET

// FMA12 multiplies the three B vectors in Y12-Y14 by A's four values at a0..a3(SI),
// broadcast one at a time into Y15, into the twelve accumulators Y0-Y11.
#define FMA12(a0, a1, a2, a3) \
	VBROADCASTSS a0(SI), Y15; \
	VFMADD231PS Y12, Y15, Y0; \
	VFMADD231PS Y13, Y15, Y1; \
	VFMADD231PS Y14, Y15, Y2; \
	VBROADCASTSS a1(SI), Y15; \
	VFMADD231PS Y12, Y15, Y3; \
	VFMADD231PS Y13, Y15, Y4; \
	VFMADD231PS Y14, Y15, Y5; \
	VBROADCASTSS a2(SI), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VFMADD231PS Y14, Y15, Y8; \
	VBROADCASTSS a3(SI), Y15; \
	VFMADD231PS Y12, Y15, Y9; \
	VFMADD231PS Y13, Y15, Y10; \
	VFMADD231PS Y14, Y15, Y11

// STEP is one k step of kern4x24x with B's rows R8 bytes apart from DI: it
// prefetches the row eight steps ahead, loads this one and moves DI on.
#define STEP(a0, a1, a2, a3) \
	PREFETCHT0 (DI)(R8*8); \
	PREFETCHT0 64(DI)(R8*8); \
	VMOVUPS (DI), Y12; \
	VMOVUPS 32(DI), Y13; \
	VMOVUPS 64(DI), Y14; \
	FMA12(a0, a1, a2, a3); \
	ADDQ R8, DI

// OSTEP is one k step of kern4x24x with B's rows given by offsets: the row's offset
// (in floats from DI) is the int32 at ob(R8).
#define OSTEP(ob, a0, a1, a2, a3) \
	MOVLQSX ob(R8), AX; \
	VMOVUPS (DI)(AX*4), Y12; \
	VMOVUPS 32(DI)(AX*4), Y13; \
	VMOVUPS 64(DI)(AX*4), Y14; \
	FMA12(a0, a1, a2, a3)

// func kern4x24x(kc int, ap, bp *float32, ldbp int, c *float32, ldc int, flags int, shift, res *float32, ldr int, offs *int32, panels int)
//
// C[4×24] (+)= Apanel[4×kc] · Bpanel[kc×24]: twelve 8-wide accumulators (Y0–Y11),
// three vectors of B (Y12–Y14) and one broadcast of A (Y15) per k step; the loop is
// unrolled by four. ap holds 4 floats per k step; bp holds 24 floats per k step, ldbp
// floats apart; kc must be at least 1. Each step prefetches the B row eight steps
// ahead: B is often read in place, a row every ldbp floats (one thread, medians of
// three: ResNet-8's 3×3 GEMMs went from 60, 49 and 35 to 68, 65 and 42 GFLOP/s,
// LeNet-5's conv2 from 42 to 58).
//
// flags choose the write to C: bit 0 adds C's old value (else C is overwritten: beta
// = 0 needs no clearing pass), bit 1 adds shift[r] to row r, bit 2 adds the residual
// tile at res (row stride ldr floats), bit 3 applies Relu. The epilogue bits are for
// the last k block of a GEMM, when C receives its final value.
//
// It computes panels tiles down C (at least one): the next tile takes the next panel
// of A (4·kc floats on), the next four rows of C, of shift and of the residual, with
// the same B. One call per column panel instead of one per tile.
//
// With offs not nil, B is not a panel with a row stride: row p of B starts offs[p]
// floats past bp (ldbp is unused). A stride-1 convolution reads its input that way,
// each k step one tap of one channel shifted over a padded image, with no im2col copy.
TEXT ·kern4x24x(SB), NOSPLIT, $0-96
	MOVQ ap+8(FP), SI
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9
	MOVQ flags+48(FP), R10
	MOVQ shift+56(FP), R11
	MOVQ res+64(FP), R12
	MOVQ ldr+72(FP), R13
	SHLQ $2, R13
xpanel:
	MOVQ kc+0(FP), CX
	MOVQ bp+16(FP), DI
	MOVQ ldbp+24(FP), R8
	SHLQ $2, R8
	ZERO8
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ offs+80(FP), AX
	TESTQ AX, AX
	JNZ xoffsets
	MOVQ CX, BX
	SHRQ $2, BX
	JZ xtail
xloop4:
	STEP(0, 4, 8, 12)
	STEP(16, 20, 24, 28)
	STEP(32, 36, 40, 44)
	STEP(48, 52, 56, 60)
	ADDQ $64, SI
	DECQ BX
	JNZ xloop4
xtail:
	ANDQ $3, CX
	JZ xstore
xloop1:
	STEP(0, 4, 8, 12)
	ADDQ $16, SI
	DECQ CX
	JNZ xloop1
	JMP xstore
xoffsets:
	MOVQ AX, R8
	MOVQ CX, BX
	SHRQ $2, BX
	JZ xotail
xoloop4:
	OSTEP(0, 0, 4, 8, 12)
	OSTEP(4, 16, 20, 24, 28)
	OSTEP(8, 32, 36, 40, 44)
	OSTEP(12, 48, 52, 56, 60)
	ADDQ $16, R8
	ADDQ $64, SI
	DECQ BX
	JNZ xoloop4
xotail:
	ANDQ $3, CX
	JZ xstore
xoloop1:
	OSTEP(0, 0, 4, 8, 12)
	ADDQ $4, R8
	ADDQ $16, SI
	DECQ CX
	JNZ xoloop1
xstore:
	VXORPS Y14, Y14, Y14
	TESTQ $1, R10
	JZ xnoacc0
	VADDPS 0(DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
xnoacc0:
	TESTQ $2, R10
	JZ xnoshift0
	VBROADCASTSS 0(R11), Y15
	VADDPS Y15, Y0, Y0
	VADDPS Y15, Y1, Y1
	VADDPS Y15, Y2, Y2
xnoshift0:
	TESTQ $4, R10
	JZ xnores0
	VADDPS 0(R12), Y0, Y0
	VADDPS 32(R12), Y1, Y1
	VADDPS 64(R12), Y2, Y2
	ADDQ R13, R12
xnores0:
	TESTQ $8, R10
	JZ xnorelu0
	VMAXPS Y14, Y0, Y0
	VMAXPS Y14, Y1, Y1
	VMAXPS Y14, Y2, Y2
xnorelu0:
	VMOVUPS Y0, 0(DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	ADDQ R9, DX
	TESTQ $1, R10
	JZ xnoacc1
	VADDPS 0(DX), Y3, Y3
	VADDPS 32(DX), Y4, Y4
	VADDPS 64(DX), Y5, Y5
xnoacc1:
	TESTQ $2, R10
	JZ xnoshift1
	VBROADCASTSS 4(R11), Y15
	VADDPS Y15, Y3, Y3
	VADDPS Y15, Y4, Y4
	VADDPS Y15, Y5, Y5
xnoshift1:
	TESTQ $4, R10
	JZ xnores1
	VADDPS 0(R12), Y3, Y3
	VADDPS 32(R12), Y4, Y4
	VADDPS 64(R12), Y5, Y5
	ADDQ R13, R12
xnores1:
	TESTQ $8, R10
	JZ xnorelu1
	VMAXPS Y14, Y3, Y3
	VMAXPS Y14, Y4, Y4
	VMAXPS Y14, Y5, Y5
xnorelu1:
	VMOVUPS Y3, 0(DX)
	VMOVUPS Y4, 32(DX)
	VMOVUPS Y5, 64(DX)
	ADDQ R9, DX
	TESTQ $1, R10
	JZ xnoacc2
	VADDPS 0(DX), Y6, Y6
	VADDPS 32(DX), Y7, Y7
	VADDPS 64(DX), Y8, Y8
xnoacc2:
	TESTQ $2, R10
	JZ xnoshift2
	VBROADCASTSS 8(R11), Y15
	VADDPS Y15, Y6, Y6
	VADDPS Y15, Y7, Y7
	VADDPS Y15, Y8, Y8
xnoshift2:
	TESTQ $4, R10
	JZ xnores2
	VADDPS 0(R12), Y6, Y6
	VADDPS 32(R12), Y7, Y7
	VADDPS 64(R12), Y8, Y8
	ADDQ R13, R12
xnores2:
	TESTQ $8, R10
	JZ xnorelu2
	VMAXPS Y14, Y6, Y6
	VMAXPS Y14, Y7, Y7
	VMAXPS Y14, Y8, Y8
xnorelu2:
	VMOVUPS Y6, 0(DX)
	VMOVUPS Y7, 32(DX)
	VMOVUPS Y8, 64(DX)
	ADDQ R9, DX
	TESTQ $1, R10
	JZ xnoacc3
	VADDPS 0(DX), Y9, Y9
	VADDPS 32(DX), Y10, Y10
	VADDPS 64(DX), Y11, Y11
xnoacc3:
	TESTQ $2, R10
	JZ xnoshift3
	VBROADCASTSS 12(R11), Y15
	VADDPS Y15, Y9, Y9
	VADDPS Y15, Y10, Y10
	VADDPS Y15, Y11, Y11
xnoshift3:
	TESTQ $4, R10
	JZ xnores3
	VADDPS 0(R12), Y9, Y9
	VADDPS 32(R12), Y10, Y10
	VADDPS 64(R12), Y11, Y11
	ADDQ R13, R12
xnores3:
	TESTQ $8, R10
	JZ xnorelu3
	VMAXPS Y14, Y9, Y9
	VMAXPS Y14, Y10, Y10
	VMAXPS Y14, Y11, Y11
xnorelu3:
	VMOVUPS Y9, 0(DX)
	VMOVUPS Y10, 32(DX)
	VMOVUPS Y11, 64(DX)
	// The next panel of A (SI is already there), four rows of C, shifts and
	// residual rows on; the panel count is kept in its argument slot.
	DECQ panels+88(FP)
	JZ xdone
	ADDQ R9, DX
	ADDQ $16, R11
	JMP xpanel
xdone:
	VZEROUPPER
	RET

// func kern4x8(kc int, ap, bp *float32, ldbp int, c *float32, ldc int)
//
// kern4x24x (accumulating, no epilogue) for an 8-wide tile: the ragged last panel of B, so that a GEMM with 49
// columns does not compute 72.
TEXT ·kern4x8(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ ap+8(FP), SI
	MOVQ bp+16(FP), DI
	MOVQ ldbp+24(FP), R8
	SHLQ $2, R8
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9
	ZERO4
kern4x8loop:
	VMOVUPS 0(DI), Y12
	VBROADCASTSS 0(SI), Y15
	VFMADD231PS Y12, Y15, Y0
	VBROADCASTSS 4(SI), Y15
	VFMADD231PS Y12, Y15, Y1
	VBROADCASTSS 8(SI), Y15
	VFMADD231PS Y12, Y15, Y2
	VBROADCASTSS 12(SI), Y15
	VFMADD231PS Y12, Y15, Y3
	ADDQ R8, DI
	ADDQ $16, SI
	DECQ CX
	JNZ kern4x8loop
	VADDPS 0(DX), Y0, Y0
	VMOVUPS Y0, 0(DX)
	ADDQ R9, DX
	VADDPS 0(DX), Y1, Y1
	VMOVUPS Y1, 0(DX)
	ADDQ R9, DX
	VADDPS 0(DX), Y2, Y2
	VMOVUPS Y2, 0(DX)
	ADDQ R9, DX
	VADDPS 0(DX), Y3, Y3
	VMOVUPS Y3, 0(DX)
	VZEROUPPER
	RET

// func kern4x16(kc int, ap, bp *float32, ldbp int, c *float32, ldc int)
//
// kern4x24x (accumulating, no epilogue) for a 16-wide tile: the ragged last panel of B, so that a GEMM with 49
// columns does not compute 72.
TEXT ·kern4x16(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ ap+8(FP), SI
	MOVQ bp+16(FP), DI
	MOVQ ldbp+24(FP), R8
	SHLQ $2, R8
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9
	ZERO8
kern4x16loop:
	VMOVUPS 0(DI), Y12
	VMOVUPS 32(DI), Y13
	VBROADCASTSS 0(SI), Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VBROADCASTSS 4(SI), Y15
	VFMADD231PS Y12, Y15, Y2
	VFMADD231PS Y13, Y15, Y3
	VBROADCASTSS 8(SI), Y15
	VFMADD231PS Y12, Y15, Y4
	VFMADD231PS Y13, Y15, Y5
	VBROADCASTSS 12(SI), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	ADDQ R8, DI
	ADDQ $16, SI
	DECQ CX
	JNZ kern4x16loop
	VADDPS 0(DX), Y0, Y0
	VMOVUPS Y0, 0(DX)
	VADDPS 32(DX), Y1, Y1
	VMOVUPS Y1, 32(DX)
	ADDQ R9, DX
	VADDPS 0(DX), Y2, Y2
	VMOVUPS Y2, 0(DX)
	VADDPS 32(DX), Y3, Y3
	VMOVUPS Y3, 32(DX)
	ADDQ R9, DX
	VADDPS 0(DX), Y4, Y4
	VMOVUPS Y4, 0(DX)
	VADDPS 32(DX), Y5, Y5
	VMOVUPS Y5, 32(DX)
	ADDQ R9, DX
	VADDPS 0(DX), Y6, Y6
	VMOVUPS Y6, 0(DX)
	VADDPS 32(DX), Y7, Y7
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// tailmask is eight all-ones lanes then eight zero lanes: the eight floats from
// 32-4r bytes in are a mask of the first r lanes.
DATA tailmask<>+0(SB)/8, $0xffffffffffffffff
DATA tailmask<>+8(SB)/8, $0xffffffffffffffff
DATA tailmask<>+16(SB)/8, $0xffffffffffffffff
DATA tailmask<>+24(SB)/8, $0xffffffffffffffff
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// func addReluRowsAVX2(dst *float32, ldd int, x *float32, ldx int, y *float32, ldy int, n, rows int, mode int, spill bool)
//
// For each of rows rows: dst[:n] = x[:n] (mode 0), x[:n] + y[:n] (mode 1), or that
// clamped at zero (mode 2); then each pointer moves on by its row stride (in floats).
// It gathers a shifted convolution's output rows out of the wider rows the GEMM
// wrote, and pads its input rows: a call per row cost more than the row.
TEXT ·addReluRowsAVX2(SB), NOSPLIT, $0-73
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ x+16(FP), SI
	MOVQ ldx+24(FP), R9
	SHLQ $2, R9
	MOVQ y+32(FP), DX
	MOVQ ldy+40(FP), R10
	SHLQ $2, R10
	MOVQ n+48(FP), R11
	MOVQ rows+56(FP), R12
	MOVQ mode+64(FP), R13
	VXORPS Y15, Y15, Y15
	TESTQ R12, R12
	JZ rrdone
	// Rows shorter than eight: masked loads and stores, the mask made once.
	CMPQ R11, $8
	JGE rrlong
	LEAQ tailmask<>(SB), BX
	MOVQ R11, CX
	NEGQ CX
	VMOVUPS 32(BX)(CX*4), Y14
rrshort:
	VMASKMOVPS (SI), Y14, Y0
	TESTQ R13, R13
	JZ rrshortstore
	VMASKMOVPS (DX), Y14, Y1
	VADDPS Y1, Y0, Y0
	CMPQ R13, $2
	JNE rrshortstore
	VMAXPS Y15, Y0, Y0
rrshortstore:
	// With spill set, every row but the last is stored whole: its extra lanes land
	// on the next row of dst (ldd == n), written after it. A masked store is slow.
	MOVBQZX spill+72(FP), AX
	TESTQ AX, AX
	JZ rrshortmasked
	CMPQ R12, $1
	JEQ rrshortmasked
	VMOVUPS Y0, (DI)
	JMP rrshortnext
rrshortmasked:
	VMASKMOVPS Y0, Y14, (DI)
rrshortnext:
	ADDQ R8, DI
	ADDQ R9, SI
	ADDQ R10, DX
	DECQ R12
	JNZ rrshort
	JMP rrdone
rrlong:
	// Whole vectors, then the row's last eight again when n is not a multiple of
	// eight (dst overlaps neither operand, so redoing some is harmless). A scalar
	// tail cost as much as the row's vectors for 28-float rows, a masked store
	// (slow on AMD) nearly as much. The copy (mode 0) has its own loop.
	LEAQ -8(R11), BX
	TESTQ R13, R13
	JNZ rraddrow
rrcopyrow:
	XORQ AX, AX
rrcopy8:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, BX
	JLE rrcopy8
	CMPQ AX, R11
	JEQ rrcopynext
	VMOVUPS (SI)(BX*4), Y0
	VMOVUPS Y0, (DI)(BX*4)
rrcopynext:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R12
	JNZ rrcopyrow
	JMP rrdone
rraddrow:
	XORQ AX, AX
rradd8:
	VMOVUPS (SI)(AX*4), Y0
	VADDPS (DX)(AX*4), Y0, Y0
	CMPQ R13, $2
	JNE rradd8store
	VMAXPS Y15, Y0, Y0
rradd8store:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, BX
	JLE rradd8
	CMPQ AX, R11
	JEQ rraddnext
	VMOVUPS (SI)(BX*4), Y0
	VADDPS (DX)(BX*4), Y0, Y0
	CMPQ R13, $2
	JNE rraddlaststore
	VMAXPS Y15, Y0, Y0
rraddlaststore:
	VMOVUPS Y0, (DI)(BX*4)
rraddnext:
	ADDQ R8, DI
	ADDQ R9, SI
	ADDQ R10, DX
	DECQ R12
	JNZ rraddrow
rrdone:
	VZEROUPPER
	RET

// DEINT8PAIRS splits the eight pairs at SI into the evens at DI and the odds at R8:
// two loads, a shuffle within 128-bit lanes and a cross-lane permute for each half.
#define DEINT8PAIRS \
	VMOVUPS (SI), Y0; \
	VMOVUPS 32(SI), Y1; \
	VSHUFPS $0x88, Y1, Y0, Y2; \
	VSHUFPS $0xDD, Y1, Y0, Y3; \
	VPERMPD $0xD8, Y2, Y2; \
	VPERMPD $0xD8, Y3, Y3; \
	VMOVUPS Y2, (DI); \
	VMOVUPS Y3, (R8)

// DEINT4PAIRS is DEINT8PAIRS for four pairs, within one 128-bit lane.
#define DEINT4PAIRS \
	VMOVUPS (SI), X0; \
	VMOVUPS 16(SI), X1; \
	VSHUFPS $0x88, X1, X0, X2; \
	VSHUFPS $0xDD, X1, X0, X3; \
	VMOVUPS X2, (DI); \
	VMOVUPS X3, (R8)

// BACKPAIRS(k) moves the source (SI) and the two outputs (DI, R8) back by k - CX
// pairs, so that a block of k pairs ends where the row's CX pairs left end.
#define BACKPAIRS(k) \
	MOVQ $k, AX; \
	SUBQ CX, AX; \
	MOVQ AX, DX; \
	SHLQ $3, DX; \
	SUBQ DX, SI; \
	SHLQ $2, AX; \
	SUBQ AX, DI; \
	SUBQ AX, R8

// func deinterleave2AVX2(even, odd *float32, ldd int, src *float32, lds int, pairs, rows int)
//
// even[i] = src[2i], odd[i] = src[2i+1] for i < pairs, for rows rows: each output
// row ldd floats after the last, each source row lds: rows of a stride-2
// convolution's input split into their two column phases. Eight pairs per step: two
// loads, a shuffle within 128-bit lanes and a cross-lane permute for each half.
TEXT ·deinterleave2AVX2(SB), NOSPLIT, $0-56
	MOVQ even+0(FP), R9
	MOVQ odd+8(FP), R10
	MOVQ ldd+16(FP), R11
	SHLQ $2, R11
	MOVQ src+24(FP), R12
	MOVQ lds+32(FP), R13
	SHLQ $2, R13
	MOVQ rows+48(FP), BX
	TESTQ BX, BX
	JZ didone
dirow:
	MOVQ R9, DI
	MOVQ R10, R8
	MOVQ R12, SI
	MOVQ pairs+40(FP), CX
	CMPQ CX, $8
	JLT di4
di8:
	DEINT8PAIRS
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, R8
	SUBQ $8, CX
	CMPQ CX, $8
	JGE di8
	TESTQ CX, CX
	JZ dinext
	// One to seven pairs left: the row's last eight pairs again, overlapping what
	// is done (the same values written twice), instead of a pair at a time.
	BACKPAIRS(8)
	DEINT8PAIRS
	JMP dinext
di4:
	// Four to seven pairs (rows of a 7×7 or 8×8 map): four with 128-bit shuffles (no
	// cross-lane permute), then the last four again, overlapping; fewer, one at a
	// time.
	CMPQ CX, $4
	JLT di1s
	DEINT4PAIRS
	SUBQ $4, CX
	JZ dinext
	BACKPAIRS(4)
	ADDQ $32, SI
	ADDQ $16, DI
	ADDQ $16, R8
	DEINT4PAIRS
	JMP dinext
di1s:
	TESTQ CX, CX
	JZ dinext
	MOVL (SI), AX
	MOVL AX, (DI)
	MOVL 4(SI), AX
	MOVL AX, (R8)
	ADDQ $8, SI
	ADDQ $4, DI
	ADDQ $4, R8
	DECQ CX
	JMP di1s
dinext:
	ADDQ R11, R9
	ADDQ R11, R10
	ADDQ R13, R12
	DECQ BX
	JNZ dirow
didone:
	VZEROUPPER
	RET

// PANEL8(ap, a0, a1, a2, a3) adds one k step of a 4-row panel (the four values of A
// at ap) times the 8 values of B in Y8 to the accumulators a0-a3 (kern8x8o, kern4x8o).
#define PANEL8(ap, a0, a1, a2, a3) \
	VBROADCASTSS 0(ap), Y9; \
	VBROADCASTSS 4(ap), Y10; \
	VBROADCASTSS 8(ap), Y11; \
	VBROADCASTSS 12(ap), Y12; \
	VFMADD231PS Y8, Y9, a0; \
	VFMADD231PS Y8, Y10, a1; \
	VFMADD231PS Y8, Y11, a2; \
	VFMADD231PS Y8, Y12, a3

// STORE4x8(acc, a0, a1, a2, a3) writes four 8-wide rows of C from DX (row stride R9)
// and moves DX two rows on, first adding C's rows when acc (a register) is not zero.
#define STORE4x8(acc, a0, a1, a2, a3, skip) \
	TESTQ acc, acc; \
	JZ skip; \
	VADDPS (DX), a0, a0; \
	VADDPS (DX)(R9*1), a1, a1; \
	LEAQ (DX)(R9*2), BX; \
	VADDPS (BX), a2, a2; \
	VADDPS (BX)(R9*1), a3, a3; \
skip: \
	VMOVUPS a0, (DX); \
	VMOVUPS a1, (DX)(R9*1); \
	LEAQ (DX)(R9*2), DX; \
	VMOVUPS a2, (DX); \
	VMOVUPS a3, (DX)(R9*1); \
	LEAQ (DX)(R9*2), DX

// func kern8x8o(kc int, ap *float32, b *float32, offs *int32, c *float32, ldc int, accumulate bool)
//
// C[8×8] (+)= A[8×kc] · B[kc×8] for a B given by row offsets (row p is the 8 floats
// offs[p] floats past b, as kern4x24x's offsets mode) and A as two consecutive packed
// 4-row panels (the second 4·kc floats after the first): the last, 8-wide panel of a
// shifted convolution whose output rows are 56 wide, which 4×24 tiles would compute
// as 72. Eight accumulators keep eight FMA chains in flight where a 4×8 tile had four.
TEXT ·kern8x8o(SB), NOSPLIT, $0-49
	MOVQ kc+0(FP), CX
	MOVQ ap+8(FP), SI
	MOVQ CX, R10
	SHLQ $4, R10
	ADDQ SI, R10
	MOVQ b+16(FP), DI
	MOVQ offs+24(FP), R8
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9
	ZERO8
k88loop:
	MOVLQSX (R8), AX
	VMOVUPS (DI)(AX*4), Y8
	PANEL8(SI, Y0, Y1, Y2, Y3)
	PANEL8(R10, Y4, Y5, Y6, Y7)
	ADDQ $4, R8
	ADDQ $16, SI
	ADDQ $16, R10
	DECQ CX
	JNZ k88loop
	MOVBQZX accumulate+48(FP), AX
	STORE4x8(AX, Y0, Y1, Y2, Y3, k88s0)
	STORE4x8(AX, Y4, Y5, Y6, Y7, k88s1)
	VZEROUPPER
	RET

// func kern4x8o(kc int, ap *float32, b *float32, offs *int32, c *float32, ldc int, accumulate bool)
//
// kern8x8o for one 4-row panel: the last panel of a narrow edge when the filters
// come in fours but not eights (28 filters: three 8×8 tiles and this one).
TEXT ·kern4x8o(SB), NOSPLIT, $0-49
	MOVQ kc+0(FP), CX
	MOVQ ap+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ offs+24(FP), R8
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $2, R9
	ZERO4
k48loop:
	MOVLQSX (R8), AX
	VMOVUPS (DI)(AX*4), Y8
	PANEL8(SI, Y0, Y1, Y2, Y3)
	ADDQ $4, R8
	ADDQ $16, SI
	DECQ CX
	JNZ k48loop
	MOVBQZX accumulate+48(FP), AX
	STORE4x8(AX, Y0, Y1, Y2, Y3, k48s0)
	VZEROUPPER
	RET
