//go:build !amd64 || purego

package kernels

// rows computes slices lo..hi-1 of v's product with x into y: y[row] = Σ + bias[row],
// clamped at zero when relu. rows is the number of matrix rows in those slices; x
// holds at least max(v.cols, winC) values. (finite is for the assembly kernel.)
func (v *windowForm) rows(lo, hi, rows int, x, y, bias []float32, relu, _ bool) {
	v.rowsGeneric(lo, hi, rows, x, y, bias, relu)
}

// hasWindowKernel reports whether windowForm's products run in an assembly kernel:
// not in this build, where the window form is not used (its Go loop does twice the
// FMAs of sliced ELLPACK at 90% zeros).
const hasWindowKernel = false

// blendFree is false: only the assembly kernel skips zeroing empty lanes.
func blendFree([]float32) bool { return false }
