// STORE_SLICE writes the first BX of a slice's eight row sums, at (SI), to their rows
// of y (R11) through perm (R12): plus bias[row] (at the register bias) when flags (CX)
// has bit 2, clamped at zero with bit 4 (max(0, v): a NaN v is kept). Then it moves
// on to the next slice (perm R12, slice pointers R10, slices left R15) and jumps to
// next while any is left. It clobbers AX, R9, X2 and X3. The one-vector kernels over
// slices of eight rows (sellMulVec, winMulVec) end each slice with it.
#define STORE_SLICE(bias, next) \
	XORQ AX, AX; \
	VXORPS X3, X3, X3; \
srow: \
	CMPQ AX, BX; \
	JGE snext; \
	MOVLQSX (R12)(AX*4), R9; \
	VMOVSS (SI)(AX*4), X2; \
	TESTQ $2, CX; \
	JZ snobias; \
	VADDSS (bias)(R9*4), X2, X2; \
snobias: \
	TESTQ $4, CX; \
	JZ snorelu; \
	VMAXSS X2, X3, X2; \
snorelu: \
	VMOVSS X2, (R11)(R9*4); \
	INCQ AX; \
	JMP srow; \
snext: \
	ADDQ $32, R12; \
	ADDQ $4, R10; \
	DECQ R15; \
	JNZ next

// SLICE_SUMS(sum, tmp, lastRows, flags) readies STORE_SLICE for a slice's sums in the
// vector register sum: it stores them to the scratch at tmp (an argument), sets BX to
// the rows the slice has (eight, or lastRows for the last slice, R15 = 1), CX to
// flags and SI to tmp, where STORE_SLICE reads the sums.
#define SLICE_SUMS(sum, tmp, lastRows, flags) \
	MOVQ tmp, SI; \
	VMOVUPS sum, (SI); \
	MOVQ $8, BX; \
	CMPQ R15, $1; \
	CMOVQEQ lastRows, BX; \
	MOVQ flags, CX
