package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMatVecT checks the batch-1 fully connected product with its fused bias and Relu
// against a float64 reference, for every n around the four-row blocks and k around the
// vector widths (the masked tail), with a row stride larger than k whose padding holds
// NaNs (read, they would show in the result) and guard elements after y that must stay
// untouched.
func TestMatVecT(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	nan := float32(math.NaN())
	ks := []int{1, 3, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 47, 48, 63, 64, 65, 100, 300, 784}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 100} {
		for _, k := range ks {
			for _, relu := range []bool{false, true} {
				for _, withBias := range []bool{false, true} {
					ldw := k + 3
					w := randSlice(r, n*ldw+1)
					for j := range n {
						for p := k; p < ldw; p++ {
							w[j*ldw+p] = nan
						}
					}
					w[len(w)-1] = nan
					x := append(randSlice(r, k), nan, nan, nan, nan, nan, nan, nan, nan)
					var bias []float32
					if withBias {
						bias = randSlice(r, n)
					}
					ybuf := randSlice(r, n+5)
					y := ybuf[:n]
					want := make([]float32, n)
					for j := range n {
						s := 0.0
						for p := range k {
							s += float64(x[p]) * float64(w[j*ldw+p])
						}
						if bias != nil {
							s += float64(bias[j])
						}
						if relu {
							s = math.Max(s, 0)
						}
						want[j] = float32(s)
					}
					guard := slices.Clone(ybuf[n:])
					what := fmt.Sprintf("n=%d k=%d relu=%v bias=%v", n, k, relu, withBias)
					MatVecT(n, k, x, w, ldw, bias, relu, y)
					checkClose(t, what, y, want, k)
					if !slices.Equal(ybuf[n:], guard) {
						t.Fatalf("%s: wrote past y", what)
					}
					if relu {
						for j, v := range y {
							if v < 0 {
								t.Fatalf("%s: y[%d] = %v after Relu", what, j, v)
							}
						}
					}
				}
			}
		}
	}
}

// TestMatVecTMatchesGemm checks that the fused product gives what the unfused steps
// give: C filled with the bias, Gemm accumulating at batch 1, then Relu, bitwise (both
// sum in the same order, in every build).
func TestMatVecTMatchesGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][2]int{{300, 784}, {100, 300}, {10, 100}, {72, 784}, {56, 72}, {13, 29}} {
		n, k := s[0], s[1]
		x, w, bias := randSlice(r, k), randSlice(r, n*k), randSlice(r, n)
		want := slices.Clone(bias)
		Gemm(false, true, 1, n, k, 1, x, k, w, k, 1, want, n)
		for j, v := range want {
			want[j] = max(v, 0)
		}
		got := make([]float32, n)
		MatVecT(n, k, x, w, k, bias, true, got)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d k=%d: fused %v…, unfused %v…", n, k, got[:min(n, 4)], want[:min(n, 4)])
		}
	}
}

// TestMatVecTPanics checks that sizes that do not fit the slices panic with a message
// instead of reading out of bounds.
func TestMatVecTPanics(t *testing.T) {
	for _, c := range []struct {
		name      string
		n, k, ldw int
		nx, nw    int
		ny, nb    int
	}{
		{"short w", 4, 8, 8, 8, 31, 4, 4},
		{"short x", 4, 8, 8, 7, 32, 4, 4},
		{"short y", 4, 8, 8, 8, 32, 3, 4},
		{"short bias", 4, 8, 8, 8, 32, 4, 3},
		{"stride below k", 4, 8, 7, 8, 32, 4, 4},
		{"negative n", -1, 8, 8, 8, 32, 4, 4},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			MatVecT(c.n, c.k, make([]float32, c.nx), make([]float32, c.nw), c.ldw, make([]float32, c.nb), false, make([]float32, c.ny))
		}()
	}
}

// BenchmarkMatVecT times the batch-1 fully connected shapes of LeNet-300-100 (and its
// structured-pruned 784-72-56-10 form), fused (MatVecT with bias and Relu) against a
// dot product per row as the kernel ran before it.
func BenchmarkMatVecT(b *testing.B) {
	for _, s := range [][2]int{{300, 784}, {100, 300}, {10, 100}, {72, 784}, {56, 72}} {
		n, k := s[0], s[1]
		r := rand.New(rand.NewPCG(1, 2))
		x, w, bias, y := randSlice(r, k), randSlice(r, n*k), randSlice(r, n), make([]float32, n)
		b.Run(fmt.Sprintf("%dx%d/fused", n, k), func(b *testing.B) {
			for b.Loop() {
				MatVecT(n, k, x, w, k, bias, true, y)
			}
		})
		b.Run(fmt.Sprintf("%dx%d/dot-per-row", n, k), func(b *testing.B) {
			for b.Loop() {
				for j := range y {
					y[j] = max(dot(x, w[j*k:j*k+k])+bias[j], 0)
				}
			}
		})
	}
}
