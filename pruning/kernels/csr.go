package kernels

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
)

// CSR is a sparse matrix in compressed sparse row form, built from a dense row-major
// weight matrix by dropping exact zeros. A pruned Gemm/MatMul weight [out, in] or a
// pruned convolution weight [outC, inC·kh·kw] becomes a CSR and multiplies dense
// activations through MulTransB (fully connected) or Mul (convolution via im2col).
//
// Column indices are 16-bit when the matrix has at most 65536 columns (every layer of
// the built-in models), else 32-bit: the index array is half the bytes the kernel
// streams, and at batch 1 the kernel is bound by those bytes.
type CSR struct {
	Rows, Cols int
	// rowPtr has Rows+1 entries; the nonzeros of row i are val[rowPtr[i]:rowPtr[i+1]]
	// at columns col16 (or col32) over the same range, in increasing column order.
	rowPtr []int32
	col16  []uint16
	col32  []int32
	val    []float32

	// vec or win is the copy laid out for products with one vector (MulVec), built
	// at the first such product (vecForm).
	vecOnce sync.Once
	vec     *sellForm
	win     *windowForm
}

// NewCSR builds the CSR form of the dense row-major rows×cols matrix w, keeping every
// element that is not exactly zero. It panics if len(w) != rows*cols, a dimension is
// negative, or w has 2³¹ or more nonzeros.
func NewCSR(w []float32, rows, cols int) *CSR {
	if rows < 0 || cols < 0 || len(w) != rows*cols {
		panic(fmt.Sprintf("kernels: NewCSR: %d elements for a %d×%d matrix", len(w), rows, cols))
	}
	nnz := 0
	for _, v := range w {
		if v != 0 {
			nnz++
		}
	}
	if nnz > math.MaxInt32 {
		panic(fmt.Sprintf("kernels: NewCSR: %d nonzeros do not fit 32-bit row pointers", nnz))
	}
	s := &CSR{Rows: rows, Cols: cols, rowPtr: make([]int32, rows+1), val: make([]float32, 0, nnz)}
	compact := cols <= 1<<16
	if compact {
		s.col16 = make([]uint16, 0, nnz)
	} else {
		s.col32 = make([]int32, 0, nnz)
	}
	for i := range rows {
		for j, v := range w[i*cols : (i+1)*cols] {
			if v == 0 {
				continue
			}
			if compact {
				s.col16 = append(s.col16, uint16(j))
			} else {
				s.col32 = append(s.col32, int32(j))
			}
			s.val = append(s.val, v)
		}
		s.rowPtr[i+1] = int32(len(s.val))
	}
	return s
}

// col returns the column of the p-th stored nonzero.
func (s *CSR) col(p int) int {
	if s.col16 != nil {
		return int(s.col16[p])
	}
	return int(s.col32[p])
}

// Bytes is the memory the kernels read for the matrix: values, column indices and
// row pointers.
func (s *CSR) Bytes() int {
	return 4*len(s.val) + 2*len(s.col16) + 4*len(s.col32) + 4*len(s.rowPtr)
}

// NNZ is the number of stored nonzeros.
func (s *CSR) NNZ() int { return len(s.val) }

// Density is NNZ / (Rows·Cols), 0 for an empty matrix.
func (s *CSR) Density() float64 {
	if s.Rows == 0 || s.Cols == 0 {
		return 0
	}
	return float64(len(s.val)) / float64(s.Rows*s.Cols)
}

// Dense returns the matrix as a dense row-major Rows×Cols slice.
func (s *CSR) Dense() []float32 {
	d := make([]float32, s.Rows*s.Cols)
	for i := range s.Rows {
		for p := s.rowPtr[i]; p < s.rowPtr[i+1]; p++ {
			d[i*s.Cols+s.col(int(p))] = s.val[p]
		}
	}
	return d
}

// MulVec computes y = S·x + bias, clamped at zero when relu: the batch-1 forward of a
// fully connected layer with a sparse weight S [out, in], its bias and Relu in the same
// pass. x holds Cols values, y Rows, bias is nil or holds Rows. A NaN stays NaN through
// the Relu, and an infinity in x at a column whose weights are all zero does not turn
// into NaN. It panics if a slice is too small.
//
// The first call builds a copy of the matrix laid out for this product (one to two
// times its size), in one of two forms, both with rows sorted by their number of
// nonzeros and taken eight at a time, one per vector lane, so that each 8-wide FMA
// serves eight rows and no row pays its own horizontal sum and tail:
//   - window form (windowForm, with the AVX2 kernel): the eight x values of an FMA
//     are a permute of eight consecutive columns, one load;
//   - sliced ELLPACK (sellForm): they are gathered one by one; fewer FMAs at very
//     high sparsity, where few rows' nonzeros share a window (vecForm decides).
func (s *CSR) MulVec(x, bias []float32, relu bool, y []float32) {
	if len(x) < s.Cols || len(y) < s.Rows || (bias != nil && len(bias) < s.Rows) {
		panic(fmt.Sprintf("kernels: MulVec: x %d, y %d, bias %d elements for a %d×%d matrix", len(x), len(y), len(bias), s.Rows, s.Cols))
	}
	if s.Rows == 0 {
		return
	}
	s.vecOnce.Do(func() { s.vec, s.win = s.vecForm() })
	switch {
	case s.win != nil:
		s.mulVecWindows(x, bias, relu, y)
	case s.vec != nil:
		s.mulVecSELL(x, bias, relu, y)
	default:
		s.mulVecCSR(x, bias, relu, y)
	}
}

// windowsPerSELL is how many window-form groups cost as much as one slice entry of
// eight in sliced ELLPACK (the AVX2 kernels, one thread, LeNet-300-100's 300×784
// layer): at 50% zeros 17259 groups took 14.8 µs against 14947 entries 30.2 µs, at
// 90% 5973 groups 5.3 µs against 3006 entries 6.4 µs, at 98% 2395 groups 3.2 µs
// against 600 entries 2.4 µs.
const windowsPerSELL = 2.5

// vecForm builds the layout MulVec runs: the window form when its kernel runs on this
// CPU and it has at most windowsPerSELL groups per sliced-ELLPACK entry of eight, else
// sliced ELLPACK, else (32-bit column indices) neither.
func (s *CSR) vecForm() (*sellForm, *windowForm) {
	sell := newSELL(s)
	if !hasWindowKernel {
		return sell, nil
	}
	win := newWindows(s)
	if win != nil && (sell == nil || float64(win.groups()) <= windowsPerSELL*float64(len(sell.val)/sellC)) {
		return nil, win
	}
	return sell, nil
}

// mulVecWindows is MulVec through the window form.
func (s *CSR) mulVecWindows(x, bias []float32, relu bool, y []float32) {
	w := s.win
	xs := x[:s.Cols]
	if s.Cols < winC {
		// A window reads eight columns.
		var buf [winC]float32
		copy(buf[:], xs)
		xs = buf[:]
	}
	nsl := len(w.slicePtr) - 1
	finite := blendFree(xs)
	if winC*w.groups() < minParallelWork {
		w.rows(0, nsl, s.Rows, xs, y, bias, relu, finite)
		return
	}
	parallelFor(nsl, 4, winC*w.groups(), func(lo, hi int) {
		w.rows(lo, hi, min(hi*winC, s.Rows)-lo*winC, xs, y, bias, relu, finite)
	})
}

// mulVecSELL is MulVec through the sliced-ELLPACK form.
func (s *CSR) mulVecSELL(x, bias []float32, relu bool, y []float32) {
	v := s.vec
	// x with one zero after it, where the padding points.
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	if cap(*buf) < s.Cols+1 {
		*buf = make([]float32, s.Cols+1)
	}
	xs := (*buf)[:s.Cols+1]
	copy(xs, x[:s.Cols])
	xs[s.Cols] = 0
	nsl := len(v.slicePtr) - 1
	if len(v.val) < minParallelWork {
		v.sellRows(0, nsl, s.Rows, xs, y, bias, relu)
		return
	}
	parallelFor(nsl, 4, len(v.val), func(lo, hi int) {
		v.sellRows(lo, hi, min(hi*sellC, s.Rows)-lo*sellC, xs, y, bias, relu)
	})
}

// mulVecCSR is MulVec row by row on the CSR arrays.
func (s *CSR) mulVecCSR(x, bias []float32, relu bool, y []float32) {
	s.spmvRows(0, s.Rows, 1, x[:s.Cols], 0, y[:s.Rows])
	for i, a := range y[:s.Rows] {
		if bias != nil {
			a += bias[i]
		}
		if relu {
			a = max(a, 0)
		}
		y[i] = a
	}
}

// sellC is the number of rows per slice of a sellForm: one 8-wide vector.
const sellC = 8

// sellForm is a CSR matrix in sliced ELLPACK form (SELL-8 with rows sorted by length).
type sellForm struct {
	// slicePtr has a slice count + 1 entries; slice i's entries are idx and val over
	// [slicePtr[i], slicePtr[i+1]), sellC at a time, one per row of the slice.
	slicePtr []int32
	idx      []uint16
	val      []float32
	// perm maps each sorted position (slice·sellC + lane) to its row; positions past
	// the last row map to row 0 and are never written.
	perm []int32
}

// rowsByLength returns s's row indices sorted by their number of nonzeros, longest
// first (stable: equal rows keep their order), the order both one-vector forms slice
// the rows in.
func (s *CSR) rowsByLength() []int32 {
	rows := make([]int32, s.Rows)
	for i := range rows {
		rows[i] = int32(i)
	}
	slices.SortStableFunc(rows, func(a, b int32) int { return cmp.Compare(s.rowLen(b), s.rowLen(a)) })
	return rows
}

// rowLen is row r's number of stored nonzeros.
func (s *CSR) rowLen(r int32) int32 { return s.rowPtr[r+1] - s.rowPtr[r] }

// newSELL returns s in sliced ELLPACK form, or nil when its column indices need 32 bits
// (the padding points at column Cols, one past the last) or the padded form would
// exceed 2³¹ entries.
func newSELL(s *CSR) *sellForm {
	if s.col16 == nil || s.Cols > math.MaxUint16-1 {
		return nil
	}
	nsl := (s.Rows + sellC - 1) / sellC
	v := &sellForm{slicePtr: make([]int32, nsl+1), perm: make([]int32, nsl*sellC)}
	rows := s.rowsByLength()
	copy(v.perm, rows)
	total := 0
	for sl := range nsl {
		total += sellC * int(s.rowLen(rows[sl*sellC])) // the slice's longest row
		if total > math.MaxInt32 {
			return nil
		}
		v.slicePtr[sl+1] = int32(total)
	}
	v.idx, v.val = make([]uint16, total), make([]float32, total)
	for sl := range nsl {
		base, n := int(v.slicePtr[sl]), int(s.rowLen(rows[sl*sellC]))
		for lane := range sellC {
			pos := sl*sellC + lane
			var start, l int
			if pos < s.Rows {
				start, l = int(s.rowPtr[rows[pos]]), int(s.rowLen(rows[pos]))
			}
			for p := range n {
				e := base + p*sellC + lane
				if p < l {
					v.idx[e], v.val[e] = s.col16[start+p], s.val[start+p]
				} else {
					v.idx[e] = uint16(s.Cols)
				}
			}
		}
	}
	return v
}

// sellRowsGeneric is sellRows in Go.
func (v *sellForm) sellRowsGeneric(lo, hi, rows int, x, y, bias []float32, relu bool) {
	for sl := lo; sl < hi; sl++ {
		var acc [sellC]float32
		idx := v.idx[v.slicePtr[sl]:v.slicePtr[sl+1]]
		val := v.val[v.slicePtr[sl]:v.slicePtr[sl+1]]
		for len(idx) >= sellC && len(val) >= sellC {
			for lane := range sellC {
				acc[lane] += val[lane] * x[idx[lane]]
			}
			idx, val = idx[sellC:], val[sellC:]
		}
		storeSlice(acc[:min(sellC, rows-(sl-lo)*sellC)], v.perm[sl*sellC:], y, bias, relu)
	}
}

// storeSlice writes a slice's row sums acc to their rows of y (perm[l] for lane l),
// plus bias[row] when bias is set, clamped at zero when relu.
func storeSlice(acc []float32, perm []int32, y, bias []float32, relu bool) {
	for l, a := range acc {
		r := perm[l]
		if bias != nil {
			a += bias[r]
		}
		if relu {
			a = max(a, 0)
		}
		y[r] = a
	}
}

// MulTransB computes y = alpha·x·Sᵀ + beta·y, the fully connected forward with a sparse
// weight S [out, in]: x is m×Cols with row stride ldx, y is m×Rows with row stride
// ldy. With beta == 0, y is overwritten (NaNs in y do not survive). It panics if a
// stride or slice is too small.
func (s *CSR) MulTransB(m int, alpha float32, x []float32, ldx int, beta float32, y []float32, ldy int) {
	if m == 0 || s.Rows == 0 {
		return
	}
	checkMatrix("MulTransB x", m, s.Cols, x, ldx)
	checkMatrix("MulTransB y", m, s.Rows, y, ldy)
	if m < minBatchTransposed && alpha == 1 && beta == 0 {
		// A few samples: one sliced-ELLPACK product each (MulVec).
		for b := range m {
			s.MulVec(x[b*ldx:b*ldx+s.Cols], nil, false, y[b*ldy:b*ldy+s.Rows])
		}
		return
	}
	work := m * len(s.val)
	if m == 1 {
		// One sample: split the output rows.
		parallelFor(s.Rows, 16, work, func(lo, hi int) {
			s.spmvRows(lo, hi, alpha, x[:s.Cols], beta, y[:s.Rows])
		})
		return
	}
	if m < minBatchTransposed {
		parallelFor(m, 1, work, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				s.spmvRows(0, s.Rows, alpha, x[b*ldx:b*ldx+s.Cols], beta, y[b*ldy:b*ldy+s.Rows])
			}
		})
		return
	}
	// A batch: yᵀ = S·xᵀ, so each nonzero scales a contiguous row of xᵀ (the batch)
	// into a row of yᵀ, a vector axpy instead of m scalar gathers.
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	need := m * (s.Cols + s.Rows)
	if cap(*buf) < need {
		*buf = make([]float32, need)
	}
	xt, yt := (*buf)[:s.Cols*m], (*buf)[s.Cols*m:need]
	transposeInto(xt, x, m, s.Cols, ldx)
	s.Mul(m, alpha, xt, m, 0, yt, m)
	for b := range m {
		yb := y[b*ldy : b*ldy+s.Rows]
		if beta == 0 {
			for i := range yb {
				yb[i] = yt[i*m+b]
			}
			continue
		}
		for i := range yb {
			yb[i] = yt[i*m+b] + beta*yb[i]
		}
	}
}

// minBatchTransposed is the batch from which MulTransB works on the transposed
// activations: below it the per-sample gathers are cheaper than two transposes.
const minBatchTransposed = 8

var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// transposeInto writes the transpose of the r×c matrix src (row stride lds) into dst
// (c×r, dense).
func transposeInto(dst, src []float32, r, c, lds int) {
	for i := range r {
		for j, v := range src[i*lds : i*lds+c] {
			dst[j*r+i] = v
		}
	}
}

// spmvRows computes y[i] = alpha·(S x)[i] + beta·y[i] for rows lo..hi-1.
func (s *CSR) spmvRows(lo, hi int, alpha float32, x []float32, beta float32, y []float32) {
	if s.col16 != nil {
		x = x[:s.Cols] // every column index is below Cols, so the gathers stay in x
		if alpha == 1 && beta == 0 {
			spmvRows16(s.rowPtr, s.col16, s.val, lo, hi, x, y[lo:hi])
			return
		}
		buf := scratchPool.Get().(*[]float32)
		defer scratchPool.Put(buf)
		if cap(*buf) < hi-lo {
			*buf = make([]float32, hi-lo)
		}
		sums := (*buf)[:hi-lo]
		spmvRows16(s.rowPtr, s.col16, s.val, lo, hi, x, sums)
		for i, v := range sums {
			if beta == 0 {
				y[lo+i] = alpha * v
			} else {
				y[lo+i] = alpha*v + beta*y[lo+i]
			}
		}
		return
	}
	spmvRows(s.rowPtr, s.col32, s.val, lo, hi, alpha, x, beta, y)
}

// spmvRows16Generic sets y[i-lo] to row i's product with x, for rows lo..hi-1.
func spmvRows16Generic(rowPtr []int32, idx []uint16, val []float32, lo, hi int, x, y []float32) {
	spmvRows(rowPtr[lo:hi+1], idx, val, 0, hi-lo, 1, x, 0, y[:hi-lo])
}

func spmvRows[I uint16 | int32](rp []int32, ci []I, val []float32, lo, hi int, alpha float32, x []float32, beta float32, y []float32) {
	for i := lo; i < hi; i++ {
		start, end := rp[i], rp[i+1]
		idx := ci[start:end]
		v := val[start:end]
		v = v[:len(idx)]
		var s0, s1, s2, s3 float32
		// Re-slicing by fours lets the compiler drop the bounds checks on idx and v;
		// only the gathers from x keep theirs.
		for len(idx) >= 4 && len(v) >= 4 {
			i4, v4 := idx[:4:4], v[:4:4]
			s0 += v4[0] * x[i4[0]]
			s1 += v4[1] * x[i4[1]]
			s2 += v4[2] * x[i4[2]]
			s3 += v4[3] * x[i4[3]]
			idx, v = idx[4:], v[4:]
		}
		for p, j := range idx {
			s0 += v[p] * x[j]
		}
		sum := alpha * ((s0 + s1) + (s2 + s3))
		if beta == 0 {
			y[i] = sum
		} else {
			y[i] = sum + beta*y[i]
		}
	}
}

// Mul computes c = alpha·S·b + beta·c, the im2col convolution with a sparse weight
// S [outC, inC·kh·kw]: b is Cols×n with row stride ldb, c is Rows×n with row stride
// ldc. With beta == 0, c is overwritten. It panics if a stride or slice is too small.
func (s *CSR) Mul(n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if n == 0 || s.Rows == 0 {
		return
	}
	checkMatrix("Mul b", s.Cols, n, b, ldb)
	checkMatrix("Mul c", s.Rows, n, c, ldc)
	parallelFor(s.Rows, 1, n*len(s.val), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ci := c[i*ldc : i*ldc+n]
			scaleRow(ci, beta)
			for p := s.rowPtr[i]; p < s.rowPtr[i+1]; p++ {
				j := s.col(int(p))
				axpy(alpha*s.val[p], b[j*ldb:j*ldb+n], ci)
			}
		}
	})
}

// checkMatrix panics unless data holds an r×c row-major matrix with row stride ld.
func checkMatrix(what string, r, c int, data []float32, ld int) {
	if r < 0 || c < 0 || ld < max(c, 1) || (r > 0 && c > 0 && len(data) < (r-1)*ld+c) {
		panic(fmt.Sprintf("kernels: %s: %d elements with stride %d for a %d×%d matrix", what, len(data), ld, r, c))
	}
}

// scaleRow sets x = beta·x, with beta == 0 meaning overwrite with zeros.
func scaleRow(x []float32, beta float32) {
	switch beta {
	case 1:
	case 0:
		clear(x)
	default:
		for i := range x {
			x[i] *= beta
		}
	}
}
