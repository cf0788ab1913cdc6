package kernels

import "fmt"

// smallM is the largest number of rows of C handled row by row, without packing: at
// batch 1 to 3 packing costs more than it saves.
const smallM = 3

// gemvRowsDot computes C += alpha·op(A)·Bᵀ one row of C at a time, as dot products of
// the row of op(A) with the rows of B (B is n×k): the fully connected forward at
// batch 1.
func gemvRowsDot(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	direct := !transA && alpha == 1 // dot with A's rows as they are: no copy
	var row []float32
	if !direct {
		row = make([]float32, k)
	}
	for i := range m {
		if direct {
			row = a[i*lda : i*lda+k]
		} else {
			loadRow(transA, i, k, a, lda, alpha, row)
		}
		ci := c[i*ldc : i*ldc+n]
		if n*k < minParallelWork {
			gemvRows(n, k, row, b, ldb, ci, nil, true, false)
			continue
		}
		parallelFor(n, 8, n*k, func(lo, hi int) {
			gemvRows(hi-lo, k, row, b[lo*ldb:], ldb, ci[lo:hi], nil, true, false)
		})
	}
}

// MatVecT computes y = W·x + bias, clamped at zero when relu: y[j] = dot(x[:k], row j
// of W) + bias[j] for j < n, where W is n×k row-major with row stride ldw (a fully
// connected layer's weight [out, in]) and bias is nil or holds n values. It is the
// batch-1 forward of a fully connected layer with its bias and Relu in one pass (AVX2
// on amd64 CPUs that have it, four weight rows per load of x). y is overwritten. It
// panics if a slice or stride is too small.
func MatVecT(n, k int, x, w []float32, ldw int, bias []float32, relu bool, y []float32) {
	if n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: MatVecT: negative dimension n=%d k=%d", n, k))
	}
	checkMatrix("MatVecT w", n, k, w, ldw)
	if len(x) < k || len(y) < n || (bias != nil && len(bias) < n) {
		panic(fmt.Sprintf("kernels: MatVecT: x %d, y %d, bias %d elements for n=%d k=%d", len(x), len(y), len(bias), n, k))
	}
	if n == 0 {
		return
	}
	if !useOwnKernels() {
		// gonum's sgemm (or a plugged-in BLAS) with the bias as C, then the Relu: the
		// pure-Go dot loop is slower than its assembly.
		beta := float32(0)
		if bias != nil {
			copy(y[:n], bias[:n])
			beta = 1
		}
		if k == 0 {
			scaleMatrix(1, n, beta, y, n)
		} else {
			gemmBLAS(false, true, 1, n, k, 1, x, k, w, ldw, beta, y, n)
		}
		if relu {
			for j, v := range y[:n] {
				y[j] = max(v, 0)
			}
		}
		return
	}
	if n*k < minParallelWork {
		// The common case, with no closure to allocate.
		gemvRows(n, k, x, w, ldw, y[:n], bias, false, relu)
		return
	}
	parallelFor(n, 8, n*k, func(lo, hi int) {
		var bs []float32
		if bias != nil {
			bs = bias[lo:hi]
		}
		gemvRows(hi-lo, k, x, w[lo*ldw:], ldw, y[lo:hi], bs, false, relu)
	})
}

// gemvRowsGeneric is gemvRows in Go.
func gemvRowsGeneric(n, k int, x, w []float32, ldw int, y, bias []float32, accumulate, relu bool) {
	x = x[:k]
	y = y[:n]
	for j := range y {
		v := float32(0)
		if k > 0 {
			v = dot(x, w[j*ldw:j*ldw+k])
		}
		if accumulate {
			v += y[j]
		}
		if bias != nil {
			v += bias[j]
		}
		if relu {
			v = max(v, 0)
		}
		y[j] = v
	}
}

// gemvRowsAxpy computes C += alpha·op(A)·B one row of C at a time, as a sum of the
// rows of B (B is k×n) scaled by the row of op(A).
func gemvRowsAxpy(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	row := make([]float32, k)
	for i := range m {
		loadRow(transA, i, k, a, lda, alpha, row)
		ci := c[i*ldc : i*ldc+n]
		parallelFor(n, 64, n*k, func(lo, hi int) {
			for p, av := range row {
				if av != 0 {
					axpy(av, b[p*ldb+lo:p*ldb+hi], ci[lo:hi])
				}
			}
		})
	}
}

// loadRow copies alpha times row i of op(A) (k elements) into row.
func loadRow(transA bool, i, k int, a []float32, lda int, alpha float32, row []float32) {
	if transA {
		for p := range k {
			row[p] = alpha * a[p*lda+i]
		}
		return
	}
	for p, v := range a[i*lda : i*lda+k] {
		row[p] = alpha * v
	}
}

// Axpy computes y += a·x over len(y) elements (AVX2 on amd64 CPUs that have it); x must
// be at least as long as y. The executor's gradient accumulation and col2im use it.
func Axpy(a float32, x, y []float32) {
	if len(x) < len(y) {
		panic(fmt.Sprintf("kernels: Axpy: x has %d elements for %d", len(x), len(y)))
	}
	axpy(a, x, y)
}
