//go:build amd64 && !purego

#include "textflag.h"
#include "slicestore_amd64.h"

// GROUP adds group k of the current run (base at BX, offsets at SI, values at DI) to
// the accumulator acc: the window of x at base, permuted by the offsets, with the
// lanes whose offset is -1 (sign bit set) zeroed, times the values. Y15 holds zeros.
#define GROUP(k, acc) \
	MOVLQSX (k*4)(BX), AX; \
	VPMOVSXBD (k*8)(SI), Y4; \
	VPERMPS (R8)(AX*4), Y4, Y5; \
	VBLENDVPS Y4, Y15, Y5, Y5; \
	VFMADD231PS (k*32)(DI), Y5, acc

// func winMulVec(slicePtr, base *int32, lane *int8, val *float32, perm *int32, nslices, lastRows int, x, y, bias *float32, flags int, tmp *float32)
//
// The window-form product with one vector (see windowForm): per slice of eight rows,
// its groups eight at a time into four accumulators (an FMA's latency is four
// cycles), then one at a time. The sums go to y through perm, plus bias[row] by flags
// (2) and clamped at zero (4). The last slice writes only lastRows rows. tmp is eight
// floats of scratch.
TEXT ·winMulVec(SB), NOSPLIT, $0-96
	MOVQ slicePtr+0(FP), R10
	MOVQ base+8(FP), R13
	MOVQ lane+16(FP), R14
	MOVQ val+24(FP), DX
	MOVQ perm+32(FP), R12
	MOVQ nslices+40(FP), R15
	MOVQ x+56(FP), R8
	MOVQ y+64(FP), R11
	VXORPS Y15, Y15, Y15
	TESTQ R15, R15
	JZ done
slice:
	MOVLQSX (R10), AX
	MOVLQSX 4(R10), CX
	SUBQ AX, CX // groups
	LEAQ (R13)(AX*4), BX
	LEAQ (R14)(AX*8), SI
	SHLQ $5, AX
	LEAQ (DX)(AX*1), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SUBQ $8, CX
	JLT g1
g8:
	GROUP(0, Y0)
	GROUP(1, Y1)
	GROUP(2, Y2)
	GROUP(3, Y3)
	GROUP(4, Y0)
	GROUP(5, Y1)
	GROUP(6, Y2)
	GROUP(7, Y3)
	ADDQ $32, BX
	ADDQ $64, SI
	ADDQ $256, DI
	SUBQ $8, CX
	JGE g8
g1:
	ADDQ $8, CX
	JZ store
g1loop:
	GROUP(0, Y0)
	ADDQ $4, BX
	ADDQ $8, SI
	ADDQ $32, DI
	DECQ CX
	JNZ g1loop
store:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	SLICE_SUMS(Y0, tmp+88(FP), lastRows+48(FP), flags+80(FP))
	MOVQ bias+72(FP), DI
	STORE_SLICE(DI, slice)
done:
	VZEROUPPER
	RET
