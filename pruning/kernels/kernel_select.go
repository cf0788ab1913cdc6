//go:build !amd64 || purego

package kernels

// ownGemm reports whether Gemm runs the packed kernels of this package rather than
// gonum's sgemm: not in the pure-Go build, where gonum is faster.
func ownGemm() bool { return false }

// microKernel returns the GEMM micro-kernel of this build: pure Go. Only tests use it
// here, to check the packing code in every build.
func microKernel() kernel { return genericKernel }

// axpy computes y += a·x over len(y) elements; x must be at least as long.
func axpy(a float32, x, y []float32) { axpyGeneric(a, x, y) }

// addReluRows sets dst = x + y (add), clamped at zero with relu, or copies x, over rows
// of n elements, each operand with its row stride.
func addReluRows(dst []float32, ldd int, x []float32, ldx int, y []float32, ldy int, n, rows int, add, relu bool) {
	addReluRowsGeneric(dst, ldd, x, ldx, y, ldy, n, rows, add, relu)
}

// deinterleave2 is Deinterleave2Rows for pairs pairs per row.
func deinterleave2(even, odd []float32, ldd int, src []float32, lds int, pairs, rows int) {
	deinterleave2Generic(even, odd, ldd, src, lds, pairs, rows)
}

// dot returns the inner product of x and y[:len(x)].
func dot(x, y []float32) float32 { return dotGeneric(x, y) }

// spmvRows16 sets y[i-lo] = Σ val[p]·x[idx[p]] over row i's nonzeros, for rows lo..hi-1.
func spmvRows16(rowPtr []int32, idx []uint16, val []float32, lo, hi int, x, y []float32) {
	spmvRows16Generic(rowPtr, idx, val, lo, hi, x, y)
}

// winoInput is winoInputGeneric.
func winoInput(src []float32, plane, wq, chanStride, c, cols int, v []float32, ldx, ldc int) {
	winoInputGeneric(src, plane, wq, chanStride, c, cols, v, ldx, ldc)
}

// winoOutRows is winoOutRowsGeneric.
func winoOutRows(m []float32, ldx, ldk, k, th, wq, oh, ow int, shift, y, res []float32, relu bool) {
	winoOutRowsGeneric(m, ldx, ldk, k, th, wq, oh, ow, shift, y, res, relu)
}

// winoFill is winoFillGeneric.
func winoFill(dst, x []float32, c, h, w, pt, pl, plane, wq, chanStride int) {
	winoFillGeneric(dst, x, c, h, w, pt, pl, plane, wq, chanStride)
}
