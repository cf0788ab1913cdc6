package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDotAxpyLengths checks the build's dot and axpy (AVX2 assembly on amd64) against
// the scalar loops at every length around the vector widths, on unaligned slices and
// with guard elements after the end that must stay untouched.
func TestDotAxpyLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 131; n++ {
		for _, off := range []int{0, 1, 3} {
			x := randSlice(r, n+off+4)[off : off+n]
			ybuf := randSlice(r, n+off+4)
			y := ybuf[off : off+n]
			got, want := dot(x, y), dotGeneric(x, y)
			checkClose(t, fmt.Sprintf("dot n=%d off=%d", n, off), []float32{got}, []float32{want}, n)

			before := slices.Clone(ybuf)
			wantY := slices.Clone(y)
			axpyGeneric(0.75, x, wantY)
			axpy(0.75, x, y)
			checkClose(t, fmt.Sprintf("axpy n=%d off=%d", n, off), y, wantY, 1)
			for i := off + n; i < len(ybuf); i++ {
				if ybuf[i] != before[i] {
					t.Fatalf("axpy n=%d off=%d wrote past the end at %d", n, off, i)
				}
			}
		}
	}
}

// TestMicroKernelDepths runs the build's micro-kernel alone at every depth 1..9 (the
// assembly unrolls k by four) on a B panel read in place with a row stride larger
// than the tile, against a scalar product; C's elements outside the tile must not
// change.
func TestMicroKernelDepths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	kern := microKernel()
	mr, nr := kern.mr, kern.nr
	for kc := 1; kc <= 9; kc++ {
		ap := randSlice(r, mr*kc)
		ldbp := nr + 5
		bp := randSlice(r, kc*ldbp)
		ldc := nr + 3
		c := randSlice(r, mr*ldc)
		want := slices.Clone(c)
		for i := range mr {
			for j := range nr {
				var s float32
				for p := range kc {
					s += ap[p*mr+i] * bp[p*ldbp+j]
				}
				want[i*ldc+j] += s
			}
		}
		kern.full(kc, ap, bp, ldbp, c, ldc)
		checkClose(t, fmt.Sprintf("%s kc=%d", kern.name, kc), c, want, kc)
	}
}
