package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refGemm is the textbook triple loop in float64, the reference every kernel is
// checked against.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := range m {
		for j := range n {
			var sum float64
			for p := range k {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				sum += float64(av) * float64(bv)
			}
			v := float64(alpha) * sum
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}

// sparsify zeroes each element of w with probability p.
func sparsify(r *rand.Rand, w []float32, p float64) {
	for i := range w {
		if r.Float64() < p {
			w[i] = 0
		}
	}
}

// checkClose fails the test if got and want differ by more than tol relative to the
// magnitude of the k-term sums (k·max|a|·max|b| is bounded by k here, inputs in [-1,1]).
func checkClose(t *testing.T, what string, got, want []float32, k int) {
	t.Helper()
	tol := 1e-5 * float64(k+1) * 4
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > tol || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("%s: element %d: got %v, want %v (|diff| %g > tol %g)", what, i, got[i], want[i], d, tol)
		}
	}
}
