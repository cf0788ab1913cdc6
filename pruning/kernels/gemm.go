// Package kernels holds the numeric kernels of the engine: dense GEMM, sparse (CSR)
// products and the thread cap they share.
//
// The default build needs no cgo and cross-compiles with CGO_ENABLED=0 to linux/arm64
// and linux/arm. On amd64 CPUs with AVX2 and FMA, Gemm is a packed, cache-blocked GEMM
// (Goto's scheme) around a 4×24 micro-kernel written in Go assembly
// (kernel_amd64.s); elsewhere, and in builds with the purego tag, it is gonum's blas32
// sgemm, which beat a pure-Go packed micro-kernel on every model shape (scalar Go
// cannot match gonum's SSE loops).
//
// A server build can plug in an optimized BLAS through gonum's own mechanism: call
// blas32.Use(impl) (gonum.org/v1/gonum/blas/blas32) with any blas.Float32 (for
// example a cgo OpenBLAS binding) before running a model, and Gemm hands every call to
// it.
package kernels

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices, where op(A) is
// m×k, op(B) is k×n and C is m×n; lda, ldb and ldc are row strides. With beta == 0, C
// is overwritten. It panics when a dimension or stride does not fit the slices.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("Gemm a", ar, ac, a, lda)
	checkMatrix("Gemm b", br, bc, b, ldb)
	checkMatrix("Gemm c", m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	if !useOwnKernels() {
		gemmBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	switch {
	case m <= smallM && transB:
		scaleMatrix(m, n, beta, c, ldc)
		gemvRowsDot(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc)
	case m <= smallM:
		scaleMatrix(m, n, beta, c, ldc)
		gemvRowsAxpy(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc)
	default:
		// beta = 0: the first k block writes C, with no clearing pass before.
		if beta != 0 {
			scaleMatrix(m, n, beta, c, ldc)
		}
		gemmPacked(microKernel(), transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, gemmOpts{overwrite: beta == 0})
	}
}

// useOwnKernels reports whether Gemm runs this package's kernels: no blas32.Use
// implementation is plugged in and the build has its own (amd64 with AVX2 and FMA).
func useOwnKernels() bool {
	_, builtin := blas32.Implementation().(gonum.Implementation)
	return builtin && ownGemm()
}

// gemmBLAS hands the call to the blas32 implementation in use (see blas32.Use).
func gemmBLAS(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
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

// scaleMatrix sets C = beta·C on an m×n matrix with row stride ldc.
func scaleMatrix(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		scaleRow(c[i*ldc:i*ldc+n], beta)
	}
}

// GonumGemm reports whether Gemm runs gonum's own sgemm (KernelName "gonum sgemm"):
// the pure-Go build, or a CPU without AVX2 and FMA, with no BLAS plugged in.
func GonumGemm() bool {
	_, builtin := blas32.Implementation().(gonum.Implementation)
	return builtin && !ownGemm()
}

// KernelName says which GEMM runs: a blas32.Use implementation, gonum's pure-Go sgemm,
// or this package's packed micro-kernel (amd64 with AVX2 and FMA).
func KernelName() string {
	impl := blas32.Implementation()
	if _, builtin := impl.(gonum.Implementation); !builtin {
		return fmt.Sprintf("blas32.Use(%T)", impl)
	}
	if ownGemm() {
		return "packed " + microKernel().name + " (Go assembly)"
	}
	return "gonum sgemm (pure Go)"
}
