//go:build amd64 && !purego

#include "textflag.h"
#include "slicestore_amd64.h"

// WINDOW loads group k of the current run (base at BX, offsets at SI) and leaves in
// Y5 the window of x at base permuted by the offsets, the offsets in Y4. The window is
// loaded on its own and permuted in registers: VPERMPS with the window as its memory
// operand took 10-17% longer on LeNet-300-100's fc1 at 90% zeros (5.85-8.63 µs
// against 5.18-6.91 µs, the two alternated in one process).
#define WINDOW(k) \
	MOVLQSX (k*4)(BX), AX; \
	VPMOVSXBD (k*8)(SI), Y4; \
	VMOVUPS (R8)(AX*4), Y5; \
	VPERMPS Y5, Y4, Y5

// GROUP adds group k of the current run (values at DI) to the accumulator acc: its
// WINDOW, with the lanes whose offset is -1 (sign bit set) zeroed, times the values.
// Y15 holds zeros.
#define GROUP(k, acc) \
	WINDOW(k); \
	VBLENDVPS Y4, Y15, Y5, Y5; \
	VFMADD231PS (k*32)(DI), Y5, acc

// GROUPF is GROUP for an x without infinities or NaNs: a lane without a nonzero
// (value 0) multiplies x[base+7] by zero, which adds zero, so its lane is not
// blended to zero first.
#define GROUPF(k, acc) \
	WINDOW(k); \
	VFMADD231PS (k*32)(DI), Y5, acc

// GROUPS8 adds eight groups of the current run with group, then steps the three
// streams past them.
#define GROUPS8(group) \
	group(0, Y0); \
	group(1, Y1); \
	group(2, Y2); \
	group(3, Y3); \
	group(4, Y0); \
	group(5, Y1); \
	group(6, Y2); \
	group(7, Y3); \
	ADDQ $32, BX; \
	ADDQ $64, SI; \
	ADDQ $256, DI

// GROUPS1 adds one group with group and steps the streams past it.
#define GROUPS1(group) \
	group(0, Y0); \
	ADDQ $4, BX; \
	ADDQ $8, SI; \
	ADDQ $32, DI

// RUNS adds the CX groups of the current slice with group, eight at a time into the
// four accumulators, then one at a time, and goes on at store; l8, l1 and l1loop are
// its labels.
#define RUNS(group, l8, l1, l1loop) \
	SUBQ $8, CX; \
	JLT l1; \
l8: \
	GROUPS8(group); \
	SUBQ $8, CX; \
	JGE l8; \
l1: \
	ADDQ $8, CX; \
	JZ store; \
l1loop: \
	GROUPS1(group); \
	DECQ CX; \
	JNZ l1loop

// func winMulVec(slicePtr, base *int32, lane *int8, val *float32, perm *int32, nslices, lastRows int, x, y, bias *float32, flags int, tmp *float32)
//
// The window-form product with one vector (see windowForm): per slice of eight rows,
// its groups eight at a time into four accumulators (an FMA's latency is four
// cycles), then one at a time. The sums go to y through perm, plus bias[row] by flags
// (2) and clamped at zero (4). With flags bit 8 (x holds no infinity or NaN) the
// groups skip zeroing the lanes without a nonzero (GROUPF). The last slice writes
// only lastRows rows. tmp is eight floats of scratch.
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
	TESTQ $8, flags+80(FP)
	JNZ finite
	RUNS(GROUP, g8, g1, g1loop)
	JMP store
finite:
	RUNS(GROUPF, f8, f1, f1loop)
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

// func finite8(x *float32, n int) bool
//
// finite8 reports whether the first 8n floats at x are all finite: none has every
// exponent bit set (an infinity or a NaN). n is at least 1.
TEXT ·finite8(SB), NOSPLIT, $0-17
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0x7f800000, AX
	MOVL AX, X0
	VPBROADCASTD X0, Y0
	VPXOR Y1, Y1, Y1
floop:
	VANDPS (SI), Y0, Y2
	VPCMPEQD Y0, Y2, Y2
	VPOR Y2, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ floop
	VPTEST Y1, Y1
	SETEQ ret+16(FP)
	VZEROUPPER
	RET
