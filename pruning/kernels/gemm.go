// Package kernels holds the numeric kernels of the engine: dense GEMM, convolution
// helpers and sparse products. The default build is pure Go (gonum's blas32), so the
// agent cross-compiles with CGO_ENABLED=0; an optimized BLAS can be plugged in through
// gonum's blas32.Use.
package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices, where op(A) is
// m×k, op(B) is k×n and C is m×n; lda, ldb and ldc are row strides. It panics (through
// gonum) when a dimension or stride does not fit the slices.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	ar, ac := m, k
	if transA {
		ta, ar, ac = blas.Trans, k, m
	}
	br, bc := k, n
	if transB {
		tb, br, bc = blas.Trans, n, k
	}
	blas32.Gemm(ta, tb, alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: b},
		beta,
		blas32.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}
