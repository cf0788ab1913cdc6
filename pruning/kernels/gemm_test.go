package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// gemmCase runs Gemm and the reference on one shape with padded strides and compares.
func gemmCase(t *testing.T, r *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) {
	t.Helper()
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+pad, bc+pad, n+pad
	a := randSlice(r, max(ar*lda-pad, 0))
	b := randSlice(r, max(br*ldb-pad, 0))
	c := randSlice(r, max(m*ldc-pad, 0))
	want := slices.Clone(c)
	refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	name := fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v pad=%d", transA, transB, m, n, k, alpha, beta, pad)
	checkClose(t, name, c, want, k)
}

func TestGemmShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	dims := []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 25, 33}
	for _, threads := range []int{1, 2} {
		SetMaxThreads(threads)
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				for _, m := range dims {
					for _, n := range dims {
						k := dims[(m*7+n*3)%len(dims)]
						ab := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-1.5, 0.25}}[(m+n)%3]
						gemmCase(t, r, transA, transB, m, n, k, ab.alpha, ab.beta, (m+n)%3)
					}
				}
			}
		}
	}
	SetMaxThreads(0)
}

// TestGemmLarge covers the cache blocks (k > kcBlock, m > mcBlock, n > ncBlock) and
// the parallel split, with odd sizes so every edge tile is exercised.
func TestGemmLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	shapes := []struct{ m, n, k int }{{64, 300, 784}, {37, 1030, 260}, {300, 97, 64}, {250, 13, 520}, {7, 2100, 9}}
	if testing.Short() {
		shapes = shapes[:3]
	}
	for _, threads := range []int{1, 2} {
		SetMaxThreads(threads)
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				gemmCase(t, r, tr[0], tr[1], s.m, s.n, s.k, 0.75, 0.5, 1)
			}
		}
	}
	SetMaxThreads(0)
}

func TestGemmModelShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, s := range modelShapes {
		gemmCase(t, r, s.transA, s.transB, s.m, s.n, s.k, 1, 0, 0)
	}
}

// TestGemmBetaZeroOverwrites checks that beta == 0 ignores NaNs already in C, as BLAS
// does, and that k == 0 only scales C.
func TestGemmBetaZeroOverwrites(t *testing.T) {
	nan := float32(math.NaN())
	for _, sh := range []struct{ m, n, k int }{{1, 5, 3}, {8, 8, 8}, {40, 40, 40}} {
		a := make([]float32, sh.m*sh.k)
		b := make([]float32, sh.k*sh.n)
		for i := range a {
			a[i] = 1
		}
		for i := range b {
			b[i] = 2
		}
		c := make([]float32, sh.m*sh.n)
		for i := range c {
			c[i] = nan
		}
		Gemm(false, false, sh.m, sh.n, sh.k, 1, a, sh.k, b, sh.n, 0, c, sh.n)
		for i, v := range c {
			if v != float32(2*sh.k) {
				t.Fatalf("%v: c[%d] got %v, want %v", sh, i, v, 2*sh.k)
			}
		}
	}
	c := []float32{1, 2, 3, 4}
	Gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 3, c, 2)
	if want := []float32{3, 6, 9, 12}; !slices.Equal(c, want) {
		t.Fatalf("k=0: got %v, want %v", c, want)
	}
}

func TestGemmPanicsOnShortSlices(t *testing.T) {
	for name, f := range map[string]func(){
		"short a": func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		"short c": func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
		},
		"bad stride": func() {
			Gemm(false, true, 2, 2, 3, 1, make([]float32, 6), 3, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		},
		"negative": func() { Gemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestGemmPackedKernels runs the packed GEMM with each micro-kernel of the build
// directly, so the packing code is checked even where Gemm hands off to gonum.
func TestGemmPackedKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	kernels := []kernel{genericKernel}
	if k := microKernel(); k.name != genericKernel.name {
		kernels = append(kernels, k)
	}
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {4, 16, 3}, {5, 17, 9}, {13, 31, 300}, {64, 300, 100}, {130, 70, 20}}
	for _, kern := range kernels {
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
				b := randSlice(r, br*ldb)
				c := randSlice(r, s.m*ldc)
				want := slices.Clone(c)
				refGemm(tr[0], tr[1], s.m, s.n, s.k, 0.5, a, lda, b, ldb, 1, want, ldc)
				gemmPacked(kern, tr[0], tr[1], s.m, s.n, s.k, 0.5, a, lda, b, ldb, c, ldc, gemmOpts{})
				checkClose(t, fmt.Sprintf("%s %v tA=%v tB=%v", kern.name, s, tr[0], tr[1]), c, want, s.k)
			}
		}
	}
}
