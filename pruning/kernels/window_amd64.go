//go:build amd64 && !purego

package kernels

import (
	"math"
	"unsafe"
)

// hasWindowKernel reports whether windowForm's products run in the AVX2 kernel (the
// form only pays with it).
var hasWindowKernel = hasAVX2FMA

//go:noescape
func winMulVec(slicePtr, base *int32, lane *int8, val *float32, perm *int32, nslices, lastRows int, x, y, bias *float32, flags int, tmp *float32)

// rows computes slices lo..hi-1 of v's product with x into y: y[row] = Σ + bias[row],
// clamped at zero when relu. rows is the number of matrix rows in those slices; x
// holds at least max(v.cols, winC) values. finite says that x holds no infinity or
// NaN (blendFree): the kernel then skips zeroing the lanes without a nonzero.
func (v *windowForm) rows(lo, hi, rows int, x, y, bias []float32, relu, finite bool) {
	if !hasAVX2FMA || lo == hi {
		v.rowsGeneric(lo, hi, rows, x, y, bias, relu)
		return
	}
	flags, pb := vecFlags(bias, relu)
	if finite {
		flags |= 8
	}
	var tmp [winC]float32
	_ = v.slicePtr[hi]
	winMulVec(&v.slicePtr[lo], unsafe.SliceData(v.base), unsafe.SliceData(v.lane), unsafe.SliceData(v.val), &v.perm[lo*winC], hi-lo, rows-(hi-lo-1)*winC,
		unsafe.SliceData(x), unsafe.SliceData(y), pb, flags, &tmp[0])
}

//go:noescape
func finite8(x *float32, n int) bool

// blendFree reports whether x holds no infinity or NaN, so that the window kernel may
// multiply a lane without a nonzero by its zero value instead of zeroing the lane
// (about 5% of fc1's time in LeNet-300-100 at 90% zeros, for a check of ~30 ns).
func blendFree(x []float32) bool {
	if !hasAVX2FMA {
		return false
	}
	n8 := len(x) / 8
	if n8 > 0 && !finite8(&x[0], n8) {
		return false
	}
	for _, v := range x[8*n8:] {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return false
		}
	}
	return true
}
