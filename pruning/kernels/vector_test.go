package kernels

import (
	"fmt"
	"math"
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

// TestAddReluGeneric checks the scalar add-and-Relu loop the row helpers fall back to.
func TestAddReluGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= 41; n++ {
		for _, relu := range []bool{false, true} {
			x := randSlice(r, n+1)[1:]
			y := randSlice(r, n)
			want := make([]float32, n)
			addReluGeneric(want, x, y, relu)
			for i, v := range want {
				if relu && v < 0 || !relu && v != x[i]+y[i] {
					t.Fatalf("addReluGeneric n=%d relu=%v: element %d = %v", n, relu, i, v)
				}
			}
		}
	}
}

// TestAddReluRows checks CopyRows and GatherPlanes with a residual (one plane) against
// the scalar loops on padded strides at lengths around the vector width, and that
// they leave the gaps between rows alone.
func TestAddReluRows(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 28, 30} {
		for _, mode := range []int{0, 1, 2} {
			const rows = 5
			ldd, ldx, ldy := n+3, n+1, n+2
			if n%2 == 1 {
				ldd = n // rows contiguous in dst: short ones are stored whole but the last
			}
			x, y := randSlice(r, rows*ldx), randSlice(r, rows*ldy)
			dst := randSlice(r, rows*ldd)
			want := slices.Clone(dst)
			for i := range rows {
				for j := range n {
					v := x[i*ldx+j]
					if mode > 0 {
						v += y[i*ldy+j]
					}
					if mode == 2 {
						v = max(v, 0)
					}
					want[i*ldd+j] = v
				}
			}
			if mode == 0 {
				CopyRows(dst, ldd, x, ldx, n, rows)
			} else {
				GatherPlanes(dst, ldd, 0, x, ldx, 0, y, ldy, 0, n, rows, 1, mode == 2)
			}
			if !slices.Equal(dst, want) {
				t.Fatalf("n=%d mode=%d: got %v, want %v", n, mode, dst, want)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("CopyRows into a short slice did not panic")
		}
	}()
	CopyRows(make([]float32, 10), 4, make([]float32, 12), 4, 4, 3)
}

// TestGatherPlanes checks GatherPlanes against the element-wise definition over
// planes with gaps between them (a GEMM's rows of wq gathered into outputs of ow), with
// and without a residual and Relu, leaving the gaps alone; planes of one row (one
// call for all), also back to back; and that a short slice panics.
func TestGatherPlanes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 5, 7, 8, 14, 28, 49} {
		for _, mode := range []int{0, 1, 2} {
			for _, rows := range []int{3, 1} {
				const planes = 4
				ldd, ldx, ldy := n, n+1, n
				dPlane, xPlane, yPlane := rows*ldd+2, rows*ldx+5, rows*ldy
				if rows == 1 && n%2 == 1 {
					dPlane = n // (planes back to back: one call, rows of n < 8 stored whole)
				}
				x, y := randSlice(r, planes*xPlane), randSlice(r, planes*yPlane)
				dst := randSlice(r, planes*dPlane)
				want := slices.Clone(dst)
				for p := range planes {
					for i := range rows {
						for j := range n {
							v := x[p*xPlane+i*ldx+j]
							if mode > 0 {
								v += y[p*yPlane+i*ldy+j]
							}
							if mode == 2 {
								v = max(v, 0)
							}
							want[p*dPlane+i*ldd+j] = v
						}
					}
				}
				var ys []float32
				if mode > 0 {
					ys = y
				}
				GatherPlanes(dst, ldd, dPlane, x, ldx, xPlane, ys, ldy, yPlane, n, rows, planes, mode == 2)
				if !slices.Equal(dst, want) {
					t.Fatalf("n=%d mode=%d rows=%d: got %v, want %v", n, mode, rows, dst, want)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("GatherPlanes from a short slice did not panic")
		}
	}()
	GatherPlanes(make([]float32, 64), 4, 16, make([]float32, 40), 4, 16, nil, 0, 0, 4, 3, 4, false)
}

// TestDeinterleave2Planes checks Deinterleave2Planes against Deinterleave2Rows plane
// by plane, with gaps between planes left alone, and that a short slice panics.
func TestDeinterleave2Planes(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{1, 2, 7, 14, 15, 28} {
		const rows, planes = 4, 3
		ldd, lds := (n+1)/2+1, 2*n+1
		dPlane, sPlane := rows*ldd+3, rows*lds+2
		src := randSlice(r, planes*sPlane)
		even, odd := randSlice(r, planes*dPlane), randSlice(r, planes*dPlane)
		we, wo := slices.Clone(even), slices.Clone(odd)
		for p := range planes {
			Deinterleave2Rows(we[p*dPlane:], wo[p*dPlane:], ldd, src[p*sPlane:], lds, n, rows)
		}
		Deinterleave2Planes(even, odd, ldd, dPlane, src, lds, sPlane, n, rows, planes)
		if !slices.Equal(even, we) || !slices.Equal(odd, wo) {
			t.Fatalf("n=%d: planes differ from Deinterleave2Rows plane by plane", n)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Deinterleave2Planes into a short slice did not panic")
		}
	}()
	Deinterleave2Planes(make([]float32, 20), make([]float32, 40), 4, 10, make([]float32, 64), 8, 16, 8, 2, 4)
}

// TestSum checks Sum against a float64 sum at every length around its unrolling and
// vector widths, and past its vector route's longest.
func TestSum(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	lengths := []int{len(sumOnes), len(sumOnes) + 1, len(sumOnes) + 13}
	for n := range 40 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		x := randSlice(r, n)
		var want float64
		for _, v := range x {
			want += float64(v)
		}
		if got := Sum(x); math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("n=%d: Sum %v, want %v", n, got, want)
		}
	}
}

// TestDeinterleave2Rows checks Deinterleave2Rows at every length around the vector
// width, over padded strides, leaving the gaps alone.
func TestDeinterleave2Rows(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for n := 1; n <= 37; n++ {
		const rows = 3
		ldd, lds := (n+1)/2+3, n+2
		src := randSlice(r, rows*lds)
		even, odd := randSlice(r, rows*ldd), randSlice(r, rows*ldd)
		eb, ob := slices.Clone(even), slices.Clone(odd)
		Deinterleave2Rows(even, odd, ldd, src, lds, n, rows)
		for k := range rows {
			for i := range n {
				got := even[k*ldd+i/2]
				if i%2 == 1 {
					got = odd[k*ldd+i/2]
				}
				if want := src[k*lds+i]; got != want {
					t.Fatalf("n=%d row %d: element %d = %v, want %v", n, k, i, got, want)
				}
			}
			if !slices.Equal(even[k*ldd+(n+1)/2:(k+1)*ldd], eb[k*ldd+(n+1)/2:(k+1)*ldd]) ||
				!slices.Equal(odd[k*ldd+n/2:(k+1)*ldd], ob[k*ldd+n/2:(k+1)*ldd]) {
				t.Fatalf("n=%d row %d: wrote past the phases", n, k)
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

// TestSpmvRows16Tails checks the build's CSR row kernel (assembly on amd64) against the
// scalar loop on rows of every length 0..40, so each of its 16-, 8-, 4- and 1-wide
// steps and their mixes run, for a range of rows that starts inside the matrix.
func TestSpmvRows16Tails(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const cols = 97
	rows := 41
	w := make([]float32, rows*cols)
	for i := range rows {
		for _, j := range r.Perm(cols)[:i] { // row i has i nonzeros
			w[i*cols+j] = r.Float32()*2 - 1
		}
	}
	s := NewCSR(w, rows, cols)
	if s.col16 == nil {
		t.Fatal("NewCSR did not use 16-bit column indices for 97 columns")
	}
	x := randSlice(r, cols)
	for _, lo := range []int{0, 3} {
		got := make([]float32, rows-lo)
		want := make([]float32, rows-lo)
		spmvRows16(s.rowPtr, s.col16, s.val, lo, rows, x, got)
		spmvRows16Generic(s.rowPtr, s.col16, s.val, lo, rows, x, want)
		checkClose(t, fmt.Sprintf("spmvRows16 lo=%d", lo), got, want, cols)
		for i := lo; i < rows; i++ {
			var ref float64
			for j := range cols {
				ref += float64(w[i*cols+j]) * float64(x[j])
			}
			if d := float64(got[i-lo]) - ref; d > 1e-4 || d < -1e-4 {
				t.Fatalf("row %d: got %v, want %v", i, got[i-lo], ref)
			}
		}
	}
}
