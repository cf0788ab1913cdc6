package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWindowLayout checks the window form's invariants on pruned matrices, wide and
// narrower than a window: every window inside the columns, every lane either empty
// (offset -1, value 0) or one nonzero of its row at base+offset, each nonzero stored
// exactly once, rows sorted by length; and for LeNet-300-100's first layer at 90%
// zeros, groups well under the nonzeros (the point of the form).
func TestWindowLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, sh := range []struct {
		out, in int
		p       float64
	}{{300, 784, 0.9}, {300, 784, 0.5}, {13, 5, 0.3}, {9, 8, 0.7}, {100, 300, 0.98}} {
		w := randSlice(r, sh.out*sh.in)
		sparsify(r, w, sh.p)
		s := NewCSR(w, sh.out, sh.in)
		v := newWindows(s)
		seen := make([]bool, len(w))
		stored := 0
		for sl := range len(v.slicePtr) - 1 {
			for g := v.slicePtr[sl]; g < v.slicePtr[sl+1]; g++ {
				b := int(v.base[g])
				if b < 0 || b+winC > max(s.Cols, winC) {
					t.Fatalf("%dx%d: group %d window at %d", sh.out, sh.in, g, b)
				}
				for l := range winC {
					o, val := v.lane[int(g)*winC+l], v.val[int(g)*winC+l]
					pos := sl*winC + l
					if o < 0 {
						if o != -1 || val != 0 {
							t.Fatalf("%dx%d: group %d lane %d empty with offset %d value %v", sh.out, sh.in, g, l, o, val)
						}
						continue
					}
					if o >= winC || pos >= s.Rows {
						t.Fatalf("%dx%d: group %d lane %d (position %d) offset %d", sh.out, sh.in, g, l, pos, o)
					}
					e := int(v.perm[pos])*s.Cols + b + int(o)
					if b+int(o) >= s.Cols || w[e] == 0 || w[e] != val || seen[e] {
						t.Fatalf("%dx%d: group %d lane %d: %v at column %d (weight %v, seen %v)", sh.out, sh.in, g, l, val, b+int(o), w[e], seen[e])
					}
					seen[e] = true
					stored++
				}
			}
		}
		if stored != s.NNZ() {
			t.Fatalf("%dx%d: %d nonzeros stored, %d in the CSR", sh.out, sh.in, stored, s.NNZ())
		}
		for pos := 1; pos < s.Rows; pos++ {
			a, b := v.perm[pos-1], v.perm[pos]
			if s.rowPtr[a+1]-s.rowPtr[a] < s.rowPtr[b+1]-s.rowPtr[b] {
				t.Fatalf("%dx%d: rows not sorted by length at %d", sh.out, sh.in, pos)
			}
		}
		if sh.out == 300 && sh.p == 0.9 && 3*v.groups() > s.NNZ() {
			t.Fatalf("300x784 at 90%%: %d groups for %d nonzeros", v.groups(), s.NNZ())
		}
	}
}

// TestBlendFree checks the finite scan that lets the window kernel skip zeroing empty
// lanes: an infinity of either sign or a NaN at any position, in the vector blocks or
// the tail, makes it false; finite values (the largest, the smallest subnormal) do not.
func TestBlendFree(t *testing.T) {
	if !hasWindowKernel {
		if blendFree([]float32{1}) {
			t.Fatal("blendFree is true without the assembly kernel")
		}
		return
	}
	if !blendFree(nil) {
		t.Fatal("blendFree(nil) = false")
	}
	for _, n := range []int{1, 7, 8, 9, 16, 17, 784} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i) - 3.5
		}
		x[0], x[n-1] = math.MaxFloat32, math.SmallestNonzeroFloat32
		if !blendFree(x) {
			t.Fatalf("n=%d: finite x reported as not finite", n)
		}
		for _, bad := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
			for _, at := range []int{0, n / 2, n - 1} {
				y := slices.Clone(x)
				y[at] = bad
				if blendFree(y) {
					t.Fatalf("n=%d: %v at %d reported as finite", n, bad, at)
				}
			}
		}
	}
}
