package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// BenchmarkGemm runs Gemm on the model shapes and reports GFLOP/s.
func BenchmarkGemm(b *testing.B) {
	for _, s := range modelShapes {
		b.Run(s.String(), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			a := randSlice(r, s.m*s.k)
			bm := randSlice(r, s.k*s.n)
			c := make([]float32, s.m*s.n)
			lda, ldb := s.k, s.n
			if s.transA {
				lda = s.m
			}
			if s.transB {
				ldb = s.k
			}
			b.ResetTimer()
			for b.Loop() {
				Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkCopyRows times the shifted convolution's output gathering at batch 1:
// ResNet-8's 16 channels of 28 rows out of 29-float rows, and 64 channels of 7 rows
// out of 8-float ones.
func BenchmarkCopyRows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{28, 7} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			x := randSlice(r, 448*(n+1))
			d := make([]float32, 448*n)
			for range b.N {
				CopyRows(d, n, x, n+1, n, 448)
			}
		})
	}
}
