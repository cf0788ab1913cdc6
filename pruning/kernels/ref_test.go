package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refGemm is the textbook product in float64, the reference every kernel is checked
// against: op(A) and op(B) are first copied out element by element, then multiplied
// with the i-p-j loop order.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	opA := make([]float64, m*k)
	for i := range m {
		for p := range k {
			if transA {
				opA[i*k+p] = float64(a[p*lda+i])
			} else {
				opA[i*k+p] = float64(a[i*lda+p])
			}
		}
	}
	opB := make([]float64, k*n)
	for p := range k {
		for j := range n {
			if transB {
				opB[p*n+j] = float64(b[j*ldb+p])
			} else {
				opB[p*n+j] = float64(b[p*ldb+j])
			}
		}
	}
	row := make([]float64, n)
	for i := range m {
		clear(row)
		for p := range k {
			av := opA[i*k+p]
			for j, bv := range opB[p*n : p*n+n] {
				row[j] += av * bv
			}
		}
		for j := range n {
			v := float64(alpha) * row[j]
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
