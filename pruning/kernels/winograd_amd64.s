//go:build amd64 && !purego

#include "textflag.h"

// WROW stores the four values of one row of V = Bᵀ·d·B from the row X = (Bᵀ·d)_i in
// Y8-Y11 (X0-X2, X1+X2, X2-X1, X1-X3), each ldx floats (BX bytes) after the last,
// from AX, and moves AX four rows on (R12 holds 3·ldx bytes).
#define WROW \
	VSUBPS Y10, Y8, Y12; \
	VMOVUPS Y12, (AX); \
	VADDPS Y10, Y9, Y13; \
	VMOVUPS Y13, (AX)(BX*1); \
	VSUBPS Y9, Y10, Y14; \
	VMOVUPS Y14, (AX)(BX*2); \
	VSUBPS Y11, Y9, Y15; \
	VMOVUPS Y15, (AX)(R12*1); \
	LEAQ (AX)(BX*4), AX

// func winoInputAVX2(src *float32, plane, wq, chanStride, c, cols int, v *float32, ldx, ldc int)
//
// Winograd F(2×2, 3×3)'s input transform, eight tiles per step (see winoInputGeneric):
// the element (i, j) of eight consecutive tiles is one contiguous load from phase
// plane (i mod 2, j mod 2), row i/2, column j/2 on. Per channel, the rows d1 and d2
// stay in Y0-Y7; d0 and d3 are read as each row of Bᵀ·d needs them.
TEXT ·winoInputAVX2(SB), NOSPLIT, $8-72
	MOVQ src+0(FP), SI
	MOVQ plane+8(FP), DX
	SHLQ $2, DX
	MOVQ c+32(FP), AX
	MOVQ AX, chans-8(SP)        // channels left
	MOVQ v+48(FP), R13
	MOVQ ldx+56(FP), BX
	SHLQ $2, BX
	LEAQ (BX)(BX*2), R12        // 3·ldx bytes
wichan:
	MOVQ SI, R8                 // row 0: phase row 0, plane row 0
	LEAQ (SI)(DX*2), R9         // row 1: phase row 1
	MOVQ wq+16(FP), AX
	SHLQ $2, AX
	LEAQ (SI)(AX*1), R10        // row 2: phase row 0, plane row 1
	LEAQ (R9)(AX*1), R11        // row 3: phase row 1, plane row 1
	MOVQ R13, DI
	MOVQ cols+40(FP), CX
witile:
	VMOVUPS (R9), Y0
	VMOVUPS (R9)(DX*1), Y1
	VMOVUPS 4(R9), Y2
	VMOVUPS 4(R9)(DX*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(DX*1), Y5
	VMOVUPS 4(R10), Y6
	VMOVUPS 4(R10)(DX*1), Y7
	MOVQ DI, AX
	// X0 = d0 - d2
	VMOVUPS (R8), Y8
	VSUBPS Y4, Y8, Y8
	VMOVUPS (R8)(DX*1), Y9
	VSUBPS Y5, Y9, Y9
	VMOVUPS 4(R8), Y10
	VSUBPS Y6, Y10, Y10
	VMOVUPS 4(R8)(DX*1), Y11
	VSUBPS Y7, Y11, Y11
	WROW
	// X1 = d1 + d2
	VADDPS Y4, Y0, Y8
	VADDPS Y5, Y1, Y9
	VADDPS Y6, Y2, Y10
	VADDPS Y7, Y3, Y11
	WROW
	// X2 = d2 - d1
	VSUBPS Y0, Y4, Y8
	VSUBPS Y1, Y5, Y9
	VSUBPS Y2, Y6, Y10
	VSUBPS Y3, Y7, Y11
	WROW
	// X3 = d1 - d3
	VSUBPS (R11), Y0, Y8
	VSUBPS (R11)(DX*1), Y1, Y9
	VSUBPS 4(R11), Y2, Y10
	VSUBPS 4(R11)(DX*1), Y3, Y11
	WROW
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ witile
	MOVQ chanStride+24(FP), AX
	SHLQ $2, AX
	ADDQ AX, SI
	MOVQ ldc+64(FP), AX
	SHLQ $2, AX
	ADDQ AX, R13
	DECQ chans-8(SP)
	JNZ wichan
	VZEROUPPER
	RET

// DEINT8 splits the eight pairs at pair index CX of the row at SI into the even
// (R11) and odd (R12) rows, as deinterleave2AVX2 does.
#define DEINT8 \
	VMOVUPS (SI)(CX*8), Y0; \
	VMOVUPS 32(SI)(CX*8), Y1; \
	VSHUFPS $0x88, Y1, Y0, Y2; \
	VSHUFPS $0xDD, Y1, Y0, Y3; \
	VPERMPD $0xD8, Y2, Y2; \
	VPERMPD $0xD8, Y3, Y3; \
	VMOVUPS Y2, (R11)(CX*4); \
	VMOVUPS Y3, (R12)(CX*4)

// DEINT4 is DEINT8 for four pairs.
#define DEINT4 \
	VMOVUPS (SI)(CX*8), X0; \
	VMOVUPS 16(SI)(CX*8), X1; \
	VSHUFPS $0x88, X1, X0, X2; \
	VSHUFPS $0xDD, X1, X0, X3; \
	VMOVUPS X2, (R11)(CX*4); \
	VMOVUPS X3, (R12)(CX*4)

// func winoFillAVX2(dst, x *float32, c, h, w, pt, plane, wq, chanStride, eoff, ooff int)
//
// Writes the c×h×w image x into the phase planes of winoFillGeneric (which has the
// layout), every row in one call: row y of channel ch goes to planes 2·py and 2·py+1
// (py the parity of y+pt), row (y+pt)/2, its even columns from eoff on and its odd
// ones from ooff. Runs of pairs are split eight (or four) at a time, the last eight
// (four) again when the count is not a multiple: the same values stored twice.
TEXT ·winoFillAVX2(SB), NOSPLIT, $0-88
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+32(FP), R13
	SHRQ $1, R13                // pairs per row
	XORQ R8, R8                 // channel
wfchan:
	XORQ R9, R9                 // row
wfrow:
	MOVQ R9, AX
	ADDQ pt+40(FP), AX
	MOVQ AX, BX
	ANDQ $1, BX
	SHRQ $1, AX
	IMULQ wq+56(FP), AX
	IMULQ plane+48(FP), BX
	SHLQ $1, BX
	ADDQ BX, AX
	MOVQ R8, BX
	IMULQ chanStride+64(FP), BX
	ADDQ BX, AX
	LEAQ (DI)(AX*4), R10
	MOVQ eoff+72(FP), BX
	LEAQ (R10)(BX*4), R11
	MOVQ ooff+80(FP), BX
	LEAQ (R10)(BX*4), R12
	XORQ CX, CX
	CMPQ R13, $8
	JLT wf4
	LEAQ -8(R13), DX            // the last eight's start
wf8:
	DEINT8
	ADDQ $8, CX
	CMPQ CX, DX
	JLE wf8
	CMPQ CX, R13
	JEQ wfodd
	MOVQ DX, CX
	DEINT8
	JMP wfodd
wf4:
	CMPQ R13, $4
	JLT wf1
	DEINT4
	LEAQ -4(R13), CX
	DEINT4
	JMP wfodd
wf1:
	CMPQ CX, R13
	JEQ wfodd
	MOVL (SI)(CX*8), AX
	MOVL AX, (R11)(CX*4)
	MOVL 4(SI)(CX*8), AX
	MOVL AX, (R12)(CX*4)
	INCQ CX
	JMP wf1
wfodd:
	MOVQ w+32(FP), BX
	TESTQ $1, BX
	JZ wfnext
	MOVL -4(SI)(BX*4), AX
	MOVL AX, (R11)(R13*4)
wfnext:
	MOVQ w+32(FP), BX
	LEAQ (SI)(BX*4), SI
	INCQ R9
	CMPQ R9, h+24(FP)
	JLT wfrow
	INCQ R8
	CMPQ R8, c+16(FP)
	JLT wfchan
	VZEROUPPER
	RET

// OUTCOL(m0, m1, m2, m3, t0, t1) is one column of T = Aᵀ·m for the output
// transform, from that column of m's four rows (m0-m3, addresses): t0 = m0+m1+m2 and
// t1 = m1-m2-m3. It clobbers Y0-Y3.
#define OUTCOL(m0, m1, m2, m3, t0, t1) \
	VMOVUPS m1, Y0; \
	VMOVUPS m2, Y1; \
	VADDPS Y1, Y0, Y2; \
	VSUBPS Y1, Y0, Y3; \
	VADDPS m0, Y2, t0; \
	VSUBPS m3, Y3, t1

// func winoOutRowsAVX2(m *float32, ldx, ldk, k, th, wq, nv, oh, ow int, shift *float32, y, res *float32, flags int)
//
// Winograd F(2×2, 3×3)'s output transform y = Aᵀ·m·A (see winoOutTileRow), written
// straight into the k×oh×ow output y: tile row by tile row, nv vectors of eight
// tiles each, last first, each giving sixteen floats of two output rows, plus shift
// (flags bit 0) and the residual (bit 2), clamped at zero (bit 1). A vector past the
// row's end spills into the rows after it, which are written later (the row's first
// vector, or the next tile row); the caller checked 16·nv <= 3·ow and does the last
// filter's last two tile rows itself.
TEXT ·winoOutRowsAVX2(SB), NOSPLIT, $8-104
	MOVQ ldx+8(FP), BX
	SHLQ $2, BX
	LEAQ (BX)(BX*2), R10        // 3·ldx bytes
	MOVQ ow+64(FP), DX
	SHLQ $2, DX
	VXORPS Y15, Y15, Y15
	MOVQ $0, f-8(SP)
worfilter:
	VXORPS Y14, Y14, Y14
	MOVQ flags+96(FP), AX
	TESTQ $1, AX
	JZ wornoshift
	MOVQ shift+72(FP), AX
	MOVQ f-8(SP), CX
	VBROADCASTSS (AX)(CX*4), Y14
wornoshift:
	XORQ R9, R9                 // tile row
worrow:
	MOVQ f-8(SP), AX
	INCQ AX
	CMPQ AX, k+24(FP)
	JNE worrowok
	LEAQ 2(R9), AX
	CMPQ AX, th+32(FP)
	JGE wornextrow              // the last filter's last two tile rows: the caller's
worrowok:
	MOVQ nv+48(FP), CX
worvec:
	DECQ CX                     // this vector: tiles 8·CX on in the tile row
	MOVQ f-8(SP), SI
	IMULQ ldk+16(FP), SI
	MOVQ R9, AX
	IMULQ wq+40(FP), AX
	ADDQ AX, SI
	LEAQ (SI)(CX*8), SI
	SHLQ $2, SI
	ADDQ m+0(FP), SI
	LEAQ (SI)(BX*4), R11        // row 1 of m: ξ = 4..7
	LEAQ (R11)(BX*4), R12       // row 2
	LEAQ (R12)(BX*4), R13       // row 3
	MOVQ f-8(SP), DI
	IMULQ oh+56(FP), DI
	LEAQ (DI)(R9*2), DI
	IMULQ ow+64(FP), DI
	MOVQ CX, AX
	SHLQ $4, AX
	ADDQ AX, DI
	SHLQ $2, DI
	MOVQ res+88(FP), R8
	ADDQ DI, R8
	ADDQ y+80(FP), DI
	// T = Aᵀ·m by columns: t0 (Y4-Y7) = m0+m1+m2, t1 (Y8-Y11) = m1-m2-m3.
	OUTCOL((SI), (R11), (R12), (R13), Y4, Y8)
	OUTCOL((SI)(BX*1), (R11)(BX*1), (R12)(BX*1), (R13)(BX*1), Y5, Y9)
	OUTCOL((SI)(BX*2), (R11)(BX*2), (R12)(BX*2), (R13)(BX*2), Y6, Y10)
	OUTCOL((SI)(R10*1), (R11)(R10*1), (R12)(R10*1), (R13)(R10*1), Y7, Y11)
	VADDPS Y6, Y5, Y0
	VADDPS Y4, Y0, Y0
	VSUBPS Y6, Y5, Y1
	VSUBPS Y7, Y1, Y1
	VADDPS Y10, Y9, Y2
	VADDPS Y8, Y2, Y2
	VSUBPS Y10, Y9, Y3
	VSUBPS Y11, Y3, Y3
	VADDPS Y14, Y0, Y0
	VADDPS Y14, Y1, Y1
	VADDPS Y14, Y2, Y2
	VADDPS Y14, Y3, Y3
	// Each output row's two columns interleaved: row 2ty in Y6, Y7, row 2ty+1 in Y8, Y9.
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKHPS Y1, Y0, Y5
	VPERM2F128 $0x20, Y5, Y4, Y6
	VPERM2F128 $0x31, Y5, Y4, Y7
	VUNPCKLPS Y3, Y2, Y4
	VUNPCKHPS Y3, Y2, Y5
	VPERM2F128 $0x20, Y5, Y4, Y8
	VPERM2F128 $0x31, Y5, Y4, Y9
	MOVQ flags+96(FP), AX
	TESTQ $4, AX
	JZ wornores
	VADDPS (R8), Y6, Y6
	VADDPS 32(R8), Y7, Y7
	VADDPS (R8)(DX*1), Y8, Y8
	VADDPS 32(R8)(DX*1), Y9, Y9
wornores:
	TESTQ $2, AX
	JZ wornorelu
	VMAXPS Y15, Y6, Y6
	VMAXPS Y15, Y7, Y7
	VMAXPS Y15, Y8, Y8
	VMAXPS Y15, Y9, Y9
wornorelu:
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	VMOVUPS Y8, (DI)(DX*1)
	VMOVUPS Y9, 32(DI)(DX*1)
	TESTQ CX, CX
	JNZ worvec
wornextrow:
	INCQ R9
	CMPQ R9, th+32(FP)
	JLT worrow
	MOVQ f-8(SP), AX
	INCQ AX
	MOVQ AX, f-8(SP)
	CMPQ AX, k+24(FP)
	JLT worfilter
	VZEROUPPER
	RET
