//go:build !amd64 || purego

package kernels

// gemvRows sets y[j] = dot(x[:k], row j of w) for j < n (w's rows ldw apart), plus
// y[j] when accumulate, plus bias[j] when bias is not nil, clamped at zero when relu.
// The caller has checked the slices.
func gemvRows(n, k int, x, w []float32, ldw int, y, bias []float32, accumulate, relu bool) {
	gemvRowsGeneric(n, k, x, w, ldw, y, bias, accumulate, relu)
}
