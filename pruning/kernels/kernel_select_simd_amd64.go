//go:build goexperiment.simd && amd64

package kernels

// ownGemm reports whether Gemm runs the packed kernels of this package rather than
// gonum's sgemm: when the CPU has AVX2 and FMA.
func ownGemm() bool { return hasAVX2FMA }

// microKernel returns the GEMM micro-kernel of this build: AVX2/FMA when the CPU has
// it, else pure Go.
func microKernel() kernel {
	if hasAVX2FMA {
		return avx2Kernel
	}
	return genericKernel
}

// dot returns the inner product of x and y[:len(x)].
func dot(x, y []float32) float32 {
	if hasAVX2FMA {
		return dotAVX2(x, y)
	}
	return dotGeneric(x, y)
}

// axpy computes y += a·x over len(y) elements; x must be at least as long.
func axpy(a float32, x, y []float32) {
	if hasAVX2FMA {
		axpyAVX2(a, x, y)
		return
	}
	axpyGeneric(a, x, y)
}
