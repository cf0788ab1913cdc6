package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNewCSRRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct{ rows, cols int }{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {3, 7}, {300, 784}, {2, 70000}} {
		w := randSlice(r, tt.rows*tt.cols)
		sparsify(r, w, 0.9)
		s := NewCSR(w, tt.rows, tt.cols)
		nz := 0
		for _, v := range w {
			if v != 0 {
				nz++
			}
		}
		if s.NNZ() != nz {
			t.Errorf("%dx%d: NNZ got %d, want %d", tt.rows, tt.cols, s.NNZ(), nz)
		}
		if got := s.Dense(); !slices.Equal(got, w) {
			t.Errorf("%dx%d: Dense() differs from the input", tt.rows, tt.cols)
		}
		idxBytes := 2
		if tt.cols > 1<<16 {
			idxBytes = 4
		}
		if got, want := s.Bytes(), (4+idxBytes)*nz+4*(tt.rows+1); got != want {
			t.Errorf("%dx%d: Bytes() got %d, want %d", tt.rows, tt.cols, got, want)
		}
	}
}

func TestNewCSRPanicsOnBadShape(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewCSR with 5 elements for 2×3 did not panic")
		}
	}()
	NewCSR(make([]float32, 5), 2, 3)
}

func TestCSRMulTransB(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{1, 2, 7, 64} {
		for _, sh := range []struct{ out, in int }{{1, 1}, {3, 5}, {17, 33}, {100, 300}, {300, 784}, {3, 70000}} {
			for pi, p := range []float64{0, 0.5, 0.9, 1} {
				abs := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-2, 0.25}}
				if sh.out*sh.in*m > 1<<20 {
					abs = abs[pi%3 : pi%3+1] // big shapes: one alpha/beta each, for test time
				}
				for _, ab := range abs {
					name := fmt.Sprintf("m%d_%dx%d_p%v_a%v_b%v", m, sh.out, sh.in, p, ab.alpha, ab.beta)
					ldx, ldy := sh.in+3, sh.out+2
					w := randSlice(r, sh.out*sh.in)
					sparsify(r, w, p)
					x := randSlice(r, m*ldx)
					y := randSlice(r, m*ldy)
					want := slices.Clone(y)
					refGemm(false, true, m, sh.out, sh.in, ab.alpha, x, ldx, w, sh.in, ab.beta, want, ldy)
					NewCSR(w, sh.out, sh.in).MulTransB(m, ab.alpha, x, ldx, ab.beta, y, ldy)
					checkClose(t, name, y, want, sh.in)
				}
			}
		}
	}
}

func TestCSRMul(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 5, 64, 576} {
		for _, sh := range []struct{ out, in int }{{1, 1}, {20, 25}, {50, 500}} {
			for _, p := range []float64{0, 0.9} {
				for _, ab := range []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-2, 0.25}} {
					name := fmt.Sprintf("n%d_%dx%d_p%v_a%v_b%v", n, sh.out, sh.in, p, ab.alpha, ab.beta)
					ldb, ldc := n+1, n+4
					w := randSlice(r, sh.out*sh.in)
					sparsify(r, w, p)
					b := randSlice(r, sh.in*ldb)
					c := randSlice(r, sh.out*ldc)
					want := slices.Clone(c)
					refGemm(false, false, sh.out, n, sh.in, ab.alpha, w, sh.in, b, ldb, ab.beta, want, ldc)
					NewCSR(w, sh.out, sh.in).Mul(n, ab.alpha, b, ldb, ab.beta, c, ldc)
					checkClose(t, name, c, want, sh.in)
				}
			}
		}
	}
}

func TestCSRPanicsOnShortSlices(t *testing.T) {
	s := NewCSR(make([]float32, 6), 2, 3)
	for name, f := range map[string]func(){
		"MulTransB x": func() { s.MulTransB(2, 1, make([]float32, 5), 3, 0, make([]float32, 4), 2) },
		"MulTransB y": func() { s.MulTransB(2, 1, make([]float32, 6), 3, 0, make([]float32, 3), 2) },
		"Mul b":       func() { s.Mul(2, 1, make([]float32, 5), 2, 0, make([]float32, 4), 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: short slice did not panic", name)
				}
			}()
			f()
		}()
	}
}

// lenet300 is the weight shapes of LeNet-300-100, [out, in].
var lenet300 = [][2]int{{300, 784}, {100, 300}, {10, 100}}

// BenchmarkLeNet300Sparse runs the three fully connected layers of LeNet-300-100 at
// batch 1 and 64, dense (Gemm) against CSR at 90% and 95% sparsity; the issue asks for
// sparse at 90% to be ≥ 2× faster than dense at batch 1.
func BenchmarkLeNet300Sparse(b *testing.B) {
	for _, batch := range []int{1, 64} {
		r := rand.New(rand.NewPCG(9, 10))
		ws := make([][]float32, len(lenet300))
		acts := [][]float32{randSlice(r, batch*784)}
		for i, sh := range lenet300 {
			ws[i] = randSlice(r, sh[0]*sh[1])
			acts = append(acts, make([]float32, batch*sh[0]))
		}
		b.Run(fmt.Sprintf("dense/b%d", batch), func(b *testing.B) {
			for b.Loop() {
				for i, sh := range lenet300 {
					Gemm(false, true, batch, sh[0], sh[1], 1, acts[i], sh[1], ws[i], sh[1], 0, acts[i+1], sh[0])
				}
			}
		})
		for _, p := range []float64{0.9, 0.95} {
			csrs := make([]*CSR, len(ws))
			for i, sh := range lenet300 {
				w := slices.Clone(ws[i])
				sparsify(r, w, p)
				csrs[i] = NewCSR(w, sh[0], sh[1])
			}
			b.Run(fmt.Sprintf("csr%.0f/b%d", p*100, batch), func(b *testing.B) {
				for b.Loop() {
					for i, sh := range lenet300 {
						csrs[i].MulTransB(batch, 1, acts[i], sh[1], 0, acts[i+1], sh[0])
					}
				}
			})
		}
	}
}
