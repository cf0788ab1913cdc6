//go:build amd64 && !purego

package kernels

import "unsafe"

//go:noescape
func sellMulVec(slicePtr *int32, idx *uint16, val *float32, perm *int32, nslices, lastRows int, x, y, bias *float32, flags int, tmp *float32)

// sellRows computes slices lo..hi-1 of v's product with x (which ends with the zero
// the padding points at) into y: y[row] = Σ + bias[row], clamped at zero when relu.
// rows is the number of matrix rows in those slices.
func (v *sellForm) sellRows(lo, hi, rows int, x, y, bias []float32, relu bool) {
	if !hasAVX2FMA {
		v.sellRowsGeneric(lo, hi, rows, x, y, bias, relu)
		return
	}
	flags, pb := vecFlags(bias, relu)
	var tmp [sellC]float32
	_ = v.slicePtr[hi]
	sellMulVec(&v.slicePtr[lo], unsafe.SliceData(v.idx), unsafe.SliceData(v.val), &v.perm[lo*sellC], hi-lo, rows-(hi-lo-1)*sellC,
		unsafe.SliceData(x), unsafe.SliceData(y), pb, flags, &tmp[0])
}
