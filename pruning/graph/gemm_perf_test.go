package graph

import (
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/kernels"
)

// TestGemmSerialMatchesGemm checks that tiled GEMMs give bitwise the results of one
// kernels.Gemm call, for every transpose and sizes that cross the tile edges, with
// padded strides.
func TestGemmSerialMatchesGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	for _, s := range [][3]int{{6, 784, 25}, {144, 784, 16}, {16, 144, 784}, {130, 200, 7}, {64, 192, 3}, {32, 196, 144}, {0, 300, 4}} {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				lda, ldb, ldc := k+1, n+2, n+3
				ar, br := m, k
				if ta {
					lda, ar = m+1, k
				}
				if tb {
					ldb, br = k+2, n
				}
				a, b, c0 := fill(ar*lda), fill(br*ldb), fill(m*ldc)
				want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
				kernels.Gemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 1, want, ldc)
				gemmSerial(true, ta, tb, m, n, k, 0.5, a, lda, b, ldb, 1, got, ldc)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("m=%d n=%d k=%d transA=%v transB=%v: c[%d] = %v, want %v", m, n, k, ta, tb, i, got[i], want[i])
					}
				}
			}
		}
	}
}
