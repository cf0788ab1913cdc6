package kernels

// kernel is a GEMM micro-kernel: full(kc, ap, bp, ldbp, c, ldc) adds the product of
// an mr×kc packed panel of A and a kc×nr panel of B to the mr×nr tile of C at c. The
// panel of B has nr contiguous values per k step, ldbp apart (nr when packed, ldb
// when read in place).
type kernel struct {
	mr, nr int
	full   func(kc int, ap, bp []float32, ldbp int, c []float32, ldc int)
	// fused, when set, is full writing the tile as told: adding to C's old value or
	// overwriting it, then applying the tile's epilogue (zero value: none).
	fused func(kc int, ap, bp []float32, ldbp int, c []float32, ldc int, accumulate bool, ep tileEpilogue)
	// narrow, when set, is full for a tile of only w < nr columns, computing fewer.
	narrow func(w, kc int, ap, bp []float32, ldbp int, c []float32, ldc int)
	// offsets, when set, is fused for a B given by row offsets: row p of the tile's
	// panel is b[offs[p]:offs[p]+nr] (GemmAOffsets), over panels tiles down C whose
	// panels of A follow one another in ap. The epilogue has no residual.
	offsets func(panels, kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool, ep tileEpilogue)
	// offsets8x8, when set, computes an 8×8 tile of such a product from two
	// consecutive mr=4 panels of A (no epilogue): the last panel of a GemmAOffsets
	// whose width is 8 past a multiple of nr.
	offsets8x8 func(kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool)
	// offsets4x8 is offsets8x8 for one panel (a 4×8 tile), for filters that come in
	// fours but not eights.
	offsets4x8 func(kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool)
	name       string
}

// genericKernel is the pure-Go 4×4 micro-kernel: sixteen scalar accumulators that the
// compiler keeps in registers.
var genericKernel = kernel{mr: 4, nr: 4, full: kernel4x4, name: "go-4x4"}

func kernel4x4(kc int, ap, bp []float32, ldbp int, c []float32, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	ap = ap[:4*kc]
	for p := 0; p < kc; p++ {
		b := bp[p*ldbp : p*ldbp+4]
		a0, a1, a2, a3 := ap[4*p], ap[4*p+1], ap[4*p+2], ap[4*p+3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	r := c[:4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = c[ldc : ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
	r = c[2*ldc : 2*ldc+4]
	r[0] += c20
	r[1] += c21
	r[2] += c22
	r[3] += c23
	r = c[3*ldc : 3*ldc+4]
	r[0] += c30
	r[1] += c31
	r[2] += c32
	r[3] += c33
}
