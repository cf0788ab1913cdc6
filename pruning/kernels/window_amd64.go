//go:build amd64 && !purego

package kernels

import "unsafe"

// hasWindowKernel reports whether windowForm's products run in the AVX2 kernel (the
// form only pays with it).
var hasWindowKernel = hasAVX2FMA

//go:noescape
func winMulVec(slicePtr, base *int32, lane *int8, val *float32, perm *int32, nslices, lastRows int, x, y, bias *float32, flags int, tmp *float32)

// rows computes slices lo..hi-1 of v's product with x into y: y[row] = Σ + bias[row],
// clamped at zero when relu. rows is the number of matrix rows in those slices; x
// holds at least max(v.cols, winC) values.
func (v *windowForm) rows(lo, hi, rows int, x, y, bias []float32, relu bool) {
	if !hasAVX2FMA || lo == hi {
		v.rowsGeneric(lo, hi, rows, x, y, bias, relu)
		return
	}
	flags, pb := vecFlags(bias, relu)
	var tmp [winC]float32
	_ = v.slicePtr[hi]
	winMulVec(&v.slicePtr[lo], unsafe.SliceData(v.base), unsafe.SliceData(v.lane), unsafe.SliceData(v.val), &v.perm[lo*winC], hi-lo, rows-(hi-lo-1)*winC,
		unsafe.SliceData(x), unsafe.SliceData(y), pb, flags, &tmp[0])
}
