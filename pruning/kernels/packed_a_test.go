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

// TestGemmAEpilogue checks the fused epilogue (shift, residual, Relu, in every
// combination) and folded row scales against the reference computed step by step, on
// shapes that cross the k blocking (so the epilogue must wait for the last k block),
// ragged tiles, one and two threads, and beta 0 and 1; PackAInto must reuse its
// storage.
func TestGemmAEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	shapes := []struct{ m, n, k int }{{4, 24, 5}, {16, 784, 144}, {50, 64, 500}, {64, 49, 576}, {6, 30, 300}, {2, 10, 7}}
	var reuse *PackedA
	for _, threads := range []int{1, 2} {
		SetMaxThreads(threads)
		for _, s := range shapes {
			for mask := 0; mask < 8; mask++ {
				lda, ldc, ldr := s.k+1, s.n+3, s.n+2
				a := randSlice(r, s.m*lda)
				scale := randSlice(r, s.m)
				pa := PackAInto(reuse, false, s.m, s.k, 1, a, lda, scale)
				if reuse != nil && pa != reuse {
					t.Fatal("PackAInto did not reuse its destination")
				}
				reuse = pa
				b := randSlice(r, s.k*s.n)
				ep := &Epilogue{Relu: mask&4 != 0}
				if mask&1 != 0 {
					ep.Shift = randSlice(r, s.m)
				}
				if mask&2 != 0 {
					ep.Residual, ep.LdRes = randSlice(r, s.m*ldr), ldr
				}
				for _, beta := range []float32{0, 1} {
					c := randSlice(r, s.m*ldc)
					want := slices.Clone(c)
					scaled := slices.Clone(a)
					for i := range s.m {
						for p := range s.k {
							scaled[i*lda+p] *= scale[i]
						}
					}
					refGemm(false, false, s.m, s.n, s.k, 1, scaled, lda, b, s.n, beta, want, ldc)
					for i := range s.m {
						for j := range s.n {
							v := want[i*ldc+j]
							if ep.Shift != nil {
								v += ep.Shift[i]
							}
							if ep.Residual != nil {
								v += ep.Residual[i*ldr+j]
							}
							if ep.Relu {
								v = max(v, 0)
							}
							want[i*ldc+j] = v
						}
					}
					GemmAEpilogue(pa, false, s.n, b, s.n, beta, c, ldc, ep)
					checkClose(t, fmt.Sprintf("threads=%d %v epilogue %03b beta=%v", threads, s, mask, beta), c, want, s.k)
				}
			}
		}
	}
	SetMaxThreads(0)
}

// TestSplitColumns checks the choice between splitting C's columns and its rows.
func TestSplitColumns(t *testing.T) {
	k := kernel{mr: 4, nr: 24}
	for _, tt := range []struct {
		m, n, threads int
		want          bool
	}{
		{50, 64, 2, false}, // columns 48+16, rows 28+24: rows
		{16, 784, 2, true}, // 33 panels split 17+16 against 4 row panels split 2+2 (each all 33 wide)
		{64, 49, 2, false}, // 3 column panels split 2+1, 16 row panels 8+8
		{300, 300, 1, true},
	} {
		if got := splitColumns(tt.m, tt.n, k, tt.threads); got != tt.want {
			t.Errorf("splitColumns(%d, %d, %d threads) = %v, want %v", tt.m, tt.n, tt.threads, got, tt.want)
		}
	}
}
