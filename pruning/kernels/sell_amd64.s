//go:build amd64 && !purego

#include "textflag.h"
#include "slicestore_amd64.h"

// GATHER8 loads the x values of eight nonzeros, at the 16-bit column indices at
// off(SI), into dst (first four) and hi (last four), clobbering AX, BX and R9: the
// insert form of spmv16 (VGATHERDPS measured slower on this AMD CPU). Each 4-byte load
// of two indices needs one zero-extension and one shift: the integer units, not the
// loads or the inserts, bound the eight-at-a-time unpacking from 8-byte loads.
#define GATHER8(off, dst, hi) \
	MOVL off(SI), AX; \
	MOVWQZX AX, R9; \
	VMOVSS (R8)(R9*4), dst; \
	SHRL $16, AX; \
	VINSERTPS $0x10, (R8)(AX*4), dst, dst; \
	MOVL off+4(SI), BX; \
	MOVWQZX BX, R9; \
	VINSERTPS $0x20, (R8)(R9*4), dst, dst; \
	SHRL $16, BX; \
	VINSERTPS $0x30, (R8)(BX*4), dst, dst; \
	MOVL off+8(SI), AX; \
	MOVWQZX AX, R9; \
	VMOVSS (R8)(R9*4), hi; \
	SHRL $16, AX; \
	VINSERTPS $0x10, (R8)(AX*4), hi, hi; \
	MOVL off+12(SI), BX; \
	MOVWQZX BX, R9; \
	VINSERTPS $0x20, (R8)(R9*4), hi, hi; \
	SHRL $16, BX; \
	VINSERTPS $0x30, (R8)(BX*4), hi, hi

// func sellMulVec(slicePtr *int32, idx *uint16, val *float32, perm *int32, nslices, lastRows int, x, y, bias *float32, flags int, tmp *float32)
//
// The sliced-ELLPACK product with one vector: slice s holds eight matrix rows (perm
// gives each one's row of y), their nonzeros stored eight at a time, one per row
// (padding: value 0 at the column of x's trailing zero), so that one 8-wide FMA adds a
// nonzero to each of the eight rows' sums and no row needs a horizontal reduction or
// a tail of its own. The last slice writes only lastRows rows. By flags, bias[row] is
// added (2) and the result clamped at zero (4) before the store. tmp is eight floats
// of scratch.
TEXT ·sellMulVec(SB), NOSPLIT, $0-88
	MOVQ slicePtr+0(FP), R10
	MOVQ idx+8(FP), R13
	MOVQ val+16(FP), DX
	MOVQ perm+24(FP), R12
	MOVQ nslices+32(FP), R15
	MOVQ x+48(FP), R8
	MOVQ y+56(FP), R11
	MOVQ bias+64(FP), R14
	TESTQ R15, R15
	JZ done
slice:
	MOVLQSX (R10), AX
	MOVLQSX 4(R10), CX
	SUBQ AX, CX
	SHRQ $3, CX // groups of eight
	LEAQ (R13)(AX*2), SI
	LEAQ (DX)(AX*4), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
g2:
	CMPQ CX, $2
	JLT g1
	GATHER8(0, X4, X5)
	VINSERTF128 $1, X5, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	GATHER8(16, X6, X7)
	VINSERTF128 $1, X7, Y6, Y6
	VFMADD231PS 32(DI), Y6, Y1
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $2, CX
	JMP g2
g1:
	TESTQ CX, CX
	JZ store
	GATHER8(0, X4, X5)
	VINSERTF128 $1, X5, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
store:
	VADDPS Y1, Y0, Y0
	SLICE_SUMS(Y0, tmp+80(FP), lastRows+40(FP), flags+72(FP))
	STORE_SLICE(R14, slice)
done:
	VZEROUPPER
	RET
