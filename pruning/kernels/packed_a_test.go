package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGemmAMatchesGemm checks GEMMs with A packed ahead against the reference, for
// shapes that cross the k and m blocking (kcBlock, mcBlock), ragged edges, both
// layouts of A and B, one and two threads, and the few-row fallback to Gemm.
func TestGemmAMatchesGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	shapes := []struct{ m, n, k int }{{1, 5, 7}, {3, 40, 9}, {4, 24, 1}, {5, 17, 9}, {16, 784, 144}, {50, 64, 500}, {130, 70, 300}, {64, 49, 576}}
	for _, threads := range []int{1, 2} {
		SetMaxThreads(threads)
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				ar, ac := s.m, s.k
				if tr[0] {
					ar, ac = s.k, s.m
				}
				br, bc := s.k, s.n
				if tr[1] {
					br, bc = s.n, s.k
				}
				lda, ldb, ldc := ac+1, bc+2, s.n+3
				a := randSlice(r, ar*lda)
				pa := PackA(tr[0], s.m, s.k, 0.5, a, lda)
				for _, beta := range []float32{0, 1} {
					b := randSlice(r, br*ldb)
					c := randSlice(r, s.m*ldc)
					want := slices.Clone(c)
					refGemm(tr[0], tr[1], s.m, s.n, s.k, 0.5, a, lda, b, ldb, beta, want, ldc)
					GemmA(pa, tr[1], s.n, b, ldb, beta, c, ldc)
					checkClose(t, fmt.Sprintf("threads=%d %v tA=%v tB=%v beta=%v", threads, s, tr[0], tr[1], beta), c, want, s.k)
				}
			}
		}
	}
	SetMaxThreads(0)
}

// TestGemmAPanicsOnShortSlices checks that GemmA validates B and C like Gemm.
func TestGemmAPanicsOnShortSlices(t *testing.T) {
	pa := PackA(false, 8, 10, 1, make([]float32, 80), 10)
	for name, f := range map[string]func(){
		"short b": func() { GemmA(pa, false, 30, make([]float32, 10*30-1), 30, 0, make([]float32, 8*30), 30) },
		"short c": func() { GemmA(pa, false, 30, make([]float32, 10*30), 30, 0, make([]float32, 8*30-1), 30) },
		"short a": func() { PackA(false, 8, 10, 1, make([]float32, 79), 10) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
