package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// offsetsCase checks GemmAOffsets on one shape against the reference GEMM of the same
// B gathered row by row, with a shift and Relu when ep says so, on 1 or 2 threads.
func offsetsCase(t *testing.T, r *rand.Rand, m, n, k int, shift, relu bool, threads int) {
	t.Helper()
	a := randSlice(r, m*k)
	var rs []float32
	if m%3 == 0 {
		rs = randSlice(r, m) // a folded BatchNormalization scale
	}
	pa := PackAInto(nil, false, m, k, 1, a, k, rs)
	nc := pa.OffsetCols(n)
	if nc < n || nc-n >= 24 {
		t.Fatalf("OffsetCols(%d) = %d", n, nc)
	}
	// B's rows at scattered, overlapping offsets into one buffer, as a convolution's taps.
	b := randSlice(r, 3*k+nc+50)
	offs := make([]int32, k)
	gathered := make([]float32, k*n)
	for p := range offs {
		offs[p] = int32(r.IntN(3*k + 50))
		copy(gathered[p*n:(p+1)*n], b[offs[p]:])
	}
	var ep *Epilogue
	if shift || relu {
		ep = &Epilogue{Relu: relu}
		if shift {
			ep.Shift = randSlice(r, m)
		}
	}
	ldc := nc + 3
	c := randSlice(r, m*ldc) // overwritten: no clearing needed
	SetMaxThreads(threads)
	defer SetMaxThreads(0)
	GemmAOffsets(pa, n, b, offs, c, ldc, ep, 0)

	sa := make([]float32, m*k)
	for i := range m {
		for p := range k {
			sa[i*k+p] = a[i*k+p]
			if rs != nil {
				sa[i*k+p] *= rs[i]
			}
		}
	}
	want := make([]float32, m*n)
	refGemm(false, false, m, n, k, 1, sa, k, gathered, n, 0, want, n)
	ep.apply(m, n, want, n)
	got := make([]float32, m*n)
	for i := range m {
		copy(got[i*n:(i+1)*n], c[i*ldc:])
	}
	checkClose(t, fmt.Sprintf("m=%d n=%d k=%d shift=%v relu=%v threads=%d", m, n, k, shift, relu, threads), got, want, k)
}

func TestGemmAOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, m := range []int{1, 4, 5, 6, 8, 12, 16, 28, 30} { // (12, 28: a 4×8 tile after the 8×8 ones)
		for _, n := range []int{1, 8, 23, 24, 30, 49, 56, 840} {
			for _, k := range []int{1, 3, 9, 144, 257, 600} {
				offsetsCase(t, r, m, n, k, m%2 == 0, n%2 == 1, 1+(m+n+k)%2)
			}
		}
	}
	// Large enough to fan out over two threads.
	offsetsCase(t, r, 64, 2400, 576, true, true, 2)
}

func TestGemmAOffsetsRejectsBadOffsets(t *testing.T) {
	pa := PackA(false, 8, 4, 1, make([]float32, 32), 4)
	n := 30
	nc := pa.OffsetCols(n)
	c := make([]float32, 8*nc)
	for _, tc := range []struct {
		name string
		offs []int32
		blen int
	}{
		{"negative offset", []int32{0, -1, 2, 3}, 100},
		{"row past b", []int32{0, 1, 2, int32(100 - nc + 1)}, 100},
		{"too few offsets", []int32{0, 1, 2}, 100},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			GemmAOffsets(pa, n, make([]float32, tc.blen), tc.offs, c, nc, nil, 0)
		}()
	}
}
