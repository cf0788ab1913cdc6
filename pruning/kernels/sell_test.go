package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCSRMulVec checks the fused one-vector product (with bias and Relu) in each of
// its layouts (the one MulVec picks, window form, sliced ELLPACK, plain CSR) against
// a float64 product of the dense matrix, for row counts around the
// slices of eight, densities from empty to full, rows of very different lengths (the
// sort), and columns past 2¹⁶ (no sliced ELLPACK). x holds an infinity at a column
// whose weights are all zero: the padding must not multiply it (and again with a
// finite value there, the window kernel's other path). Guard elements after
// y must stay untouched.
func TestCSRMulVec(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	inf := float32(math.Inf(1))
	for _, sh := range []struct{ out, in int }{{1, 1}, {1, 9}, {3, 5}, {7, 20}, {8, 20}, {9, 20}, {17, 33}, {100, 300}, {300, 784}, {5, 70000}} {
		for _, p := range []float64{0, 0.5, 0.9, 1} {
			for _, relu := range []bool{false, true} {
				for _, withBias := range []bool{false, true} {
					what := fmt.Sprintf("%dx%d p=%v relu=%v bias=%v", sh.out, sh.in, p, relu, withBias)
					w := randSlice(r, sh.out*sh.in)
					sparsify(r, w, p)
					// Some rows much longer than the rest, and one empty.
					for i := 0; i < sh.out; i += 5 {
						for j := range sh.in {
							if r.IntN(2) == 0 {
								w[i*sh.in+j] = r.Float32() - 0.5
							}
						}
					}
					if sh.out > 2 {
						clear(w[sh.in : 2*sh.in])
					}
					x := randSlice(r, sh.in)
					if sh.in > 1 {
						hole := sh.in / 2
						for i := range sh.out {
							w[i*sh.in+hole] = 0
						}
						x[hole] = inf
					}
					var bias []float32
					if withBias {
						bias = randSlice(r, sh.out)
					}
					want := make([]float32, sh.out)
					for i := range sh.out {
						s := 0.0
						for j := range sh.in {
							if v := w[i*sh.in+j]; v != 0 {
								s += float64(v) * float64(x[j])
							}
						}
						if bias != nil {
							s += float64(bias[i])
						}
						if relu {
							s = math.Max(s, 0)
						}
						want[i] = float32(s)
					}
					// Each form runs on x, and on x with a finite value in the hole,
					// where the window kernel skips zeroing empty lanes (blendFree).
					xf := slices.Clone(x)
					if sh.in > 1 {
						xf[sh.in/2] = 1.5
					}
					for _, x := range [][]float32{x, xf} {
						for _, form := range []string{"auto", "windows", "sell", "csr"} {
							s := NewCSR(w, sh.out, sh.in)
							switch form {
							case "windows":
								s.vecOnce.Do(func() { s.win = newWindows(s) })
							case "sell":
								s.vecOnce.Do(func() { s.vec = newSELL(s) })
							case "csr":
								s.vecOnce.Do(func() {})
							}
							ybuf := randSlice(r, sh.out+9)
							guard := slices.Clone(ybuf[sh.out:])
							for range 2 { // the second call reuses the layout
								s.MulVec(x, bias, relu, ybuf[:sh.out])
								checkClose(t, what+" "+form, ybuf[:sh.out], want, sh.in)
								if !slices.Equal(ybuf[sh.out:], guard) {
									t.Fatalf("%s %s: wrote past y", what, form)
								}
							}
							if form == "auto" && (sh.in < 1<<16 || hasWindowKernel) != (s.vec != nil || s.win != nil) {
								t.Fatalf("%s: sliced form %v, window form %v", what, s.vec != nil, s.win != nil)
							}
						}
					}
				}
			}
		}
	}
}

// TestSELLLayout checks the sliced form's invariants on a pruned 300×784 matrix: rows
// sorted by length, every slice as long as its first row, every nonzero present once.
func TestSELLLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	w := randSlice(r, 300*784)
	sparsify(r, w, 0.9)
	s := NewCSR(w, 300, 784)
	v := newSELL(s)
	nnz := 0
	for sl := range len(v.slicePtr) - 1 {
		n := int(v.slicePtr[sl+1]-v.slicePtr[sl]) / sellC
		for lane := range sellC {
			pos := sl*sellC + lane
			if pos >= s.Rows {
				continue
			}
			row := int(v.perm[pos])
			l := int(s.rowPtr[row+1] - s.rowPtr[row])
			if l > n || (lane == 0 && l != n) {
				t.Fatalf("slice %d: row %d has %d nonzeros, slice length %d", sl, row, l, n)
			}
			if pos > 0 {
				prev := int(v.perm[pos-1])
				if pl := int(s.rowPtr[prev+1] - s.rowPtr[prev]); pl < l {
					t.Fatalf("rows not sorted: %d nonzeros before %d", pl, l)
				}
			}
			for p := range n {
				e := int(v.slicePtr[sl]) + p*sellC + lane
				if p < l {
					if v.val[e] != w[row*784+int(v.idx[e])] || v.val[e] == 0 {
						t.Fatalf("slice %d lane %d entry %d: %v at column %d", sl, lane, p, v.val[e], v.idx[e])
					}
					nnz++
				} else if v.val[e] != 0 || int(v.idx[e]) != s.Cols {
					t.Fatalf("slice %d lane %d padding %d: %v at column %d", sl, lane, p, v.val[e], v.idx[e])
				}
			}
		}
	}
	if nnz != s.NNZ() {
		t.Fatalf("%d nonzeros in the sliced form, %d in the CSR", nnz, s.NNZ())
	}
}

// BenchmarkCSRMulVec times LeNet-300-100's layers magnitude-pruned to 90% at batch 1:
// the window form and sliced ELLPACK with bias and Relu fused (MulVec) against the
// row-wise CSR kernel
// (what MulTransB ran at batch 1 before) and the dense fused product (MatVecT).
func BenchmarkCSRMulVec(b *testing.B) {
	for _, sh := range [][2]int{{300, 784}, {100, 300}, {10, 100}} {
		n, k := sh[0], sh[1]
		r := rand.New(rand.NewPCG(1, 2))
		w, x, bias, y := randSlice(r, n*k), randSlice(r, k), randSlice(r, n), make([]float32, n)
		dense := slices.Clone(w)
		sparsify(r, w, 0.9)
		s := NewCSR(w, n, k)
		win, sell := NewCSR(w, n, k), NewCSR(w, n, k)
		win.vecOnce.Do(func() { win.win = newWindows(win) })
		sell.vecOnce.Do(func() { sell.vec = newSELL(sell) })
		for _, f := range []struct {
			name string
			s    *CSR
		}{{"windows", win}, {"sell", sell}} {
			b.Run(fmt.Sprintf("%dx%d/%s", n, k, f.name), func(b *testing.B) {
				for b.Loop() {
					f.s.MulVec(x, bias, true, y)
				}
			})
		}
		b.Run(fmt.Sprintf("%dx%d/csr-rows", n, k), func(b *testing.B) {
			for b.Loop() {
				s.spmvRows(0, n, 1, x, 0, y)
			}
		})
		b.Run(fmt.Sprintf("%dx%d/dense", n, k), func(b *testing.B) {
			for b.Loop() {
				MatVecT(n, k, x, dense, k, bias, true, y)
			}
		})
	}
}
