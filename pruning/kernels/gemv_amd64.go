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
	flags, pb := vecFlags(bias, relu)
	if accumulate {
		flags |= 1
	}
	gemvT4(unsafe.SliceData(x), unsafe.SliceData(w), ldw, k, unsafe.SliceData(y), n, pb, &tailMask[8-k%8], flags)
}

// vecFlags is the flags argument the one-vector assembly kernels (gemvT4, sellMulVec,
// winMulVec) share, and bias's pointer: 2 when bias is set, 4 with relu (1, add to
// y's old value, is the caller's).
func vecFlags(bias []float32, relu bool) (flags int, pb *float32) {
	if bias != nil {
		flags, pb = 2, unsafe.SliceData(bias)
	}
	if relu {
		flags |= 4
	}
	return flags, pb
}
