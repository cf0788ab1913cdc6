//go:build !amd64 || purego

package kernels

// sellRows computes slices lo..hi-1 of v's product with x (which ends with the zero
// the padding points at) into y: y[row] = Σ + bias[row], clamped at zero when relu.
// rows is the number of matrix rows in those slices.
func (v *sellForm) sellRows(lo, hi, rows int, x, y, bias []float32, relu bool) {
	v.sellRowsGeneric(lo, hi, rows, x, y, bias, relu)
}
