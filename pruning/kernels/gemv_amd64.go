//go:build amd64 && !purego

package kernels

import "unsafe"

//go:noescape
func gemvT4(x, w *float32, ldw, k int, y *float32, n int, bias *float32, mask *int32, flags int)

// tailMask holds eight int32 all-ones lanes then eight zero lanes: the eight lanes
// from &tailMask[8-r] select the first r of a vector.
var tailMask = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

// gemvRows sets y[j] = dot(x[:k], row j of w) for j < n (w's rows ldw apart), plus
// y[j] when accumulate, plus bias[j] when bias is not nil, clamped at zero when relu.
// The caller has checked the slices.
func gemvRows(n, k int, x, w []float32, ldw int, y, bias []float32, accumulate, relu bool) {
	if !hasAVX2FMA || n == 0 || k == 0 {
		gemvRowsGeneric(n, k, x, w, ldw, y, bias, accumulate, relu)
		return
	}
	flags := 0
	if accumulate {
		flags |= 1
	}
	var pb *float32
	if bias != nil {
		flags |= 2
		pb = unsafe.SliceData(bias)
	}
	if relu {
		flags |= 4
	}
	gemvT4(unsafe.SliceData(x), unsafe.SliceData(w), ldw, k, unsafe.SliceData(y), n, pb, &tailMask[8-k%8], flags)
}
