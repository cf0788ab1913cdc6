package kernels

import "fmt"

// OffsetCols returns how many columns GemmAOffsets computes, and writes, for an n-column
// product with pa: n rounded up to whole micro-kernel tiles when the packed kernels
// run it, else n.
func (pa *PackedA) OffsetCols(n int) int {
	if !pa.offsetKernel() {
		return n
	}
	nr := pa.kern.nr
	if pa.narrow8(n) {
		return n/nr*nr + 8
	}
	return (n + nr - 1) / nr * nr
}

// narrow8 reports whether GemmAOffsets computes the last columns of an n-wide product
// with pa as an 8-wide panel of 8×8 tiles (and a 4×8 one): when at most 8 columns
// are left over from whole tiles and pa's rows come in fours.
func (pa *PackedA) narrow8(n int) bool {
	r := n % pa.kern.nr
	return pa.kern.offsets8x8 != nil && pa.kern.offsets4x8 != nil && pa.kern.mr == 4 && pa.M%4 == 0 && r > 0 && r <= 8
}

// offsetsNarrow computes the 8-wide tiles of rows [0, m) (m a multiple of 4) of a
// narrow edge: 8×8 tiles from pairs of A's 4-row panels (ap, kc floats per row), and
// a 4×8 tile from the last panel when m is not a multiple of 8.
func (pa *PackedA) offsetsNarrow(m, kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool) {
	ir := 0
	for ; ir+8 <= m; ir += 8 {
		pa.kern.offsets8x8(kc, ap[ir*kc:(ir+8)*kc], b, offs, c[ir*ldc:], ldc, accumulate)
	}
	if ir < m {
		pa.kern.offsets4x8(kc, ap[ir*kc:(ir+4)*kc], b, offs, c[ir*ldc:], ldc, accumulate)
	}
}

// offsetKernel reports whether GemmAOffsets runs pa through the micro-kernel.
func (pa *PackedA) offsetKernel() bool { return pa.data != nil && pa.kern.offsets != nil }

// GemmAOffsets sets C = A·B, with A packed by PackA (M×K) and B a K×n matrix given by
// row offsets: row p of B is b[offs[p] : offs[p]+n]. A stride-1 convolution reads its
// input this way, in place: over an image padded to width wp, the row of channel c and
// tap (ky, kx) starts at c·hp·wp + ky·wp + kx, and output column y·wp+x is the output
// pixel (y, x) for x below the output width (the other columns are discarded). That
// is the product im2col would copy the input out for.
//
// GemmAOffsets computes whole micro-kernel tiles: columns up to pa.OffsetCols(n).
// Every row of B must have that many values in b and every row of C that many
// columns; the columns past n receive values that mean nothing. ep's Shift and Relu
// are applied as C is stored; a Residual is not supported. threads > 0 caps the
// goroutines the call uses (the caller's included), as the executor's WithThreads
// does. It panics when an offset, a size or a stride does not fit.
func GemmAOffsets(pa *PackedA, n int, b []float32, offs []int32, c []float32, ldc int, ep *Epilogue, threads int) {
	if n < 0 {
		panic(fmt.Sprintf("kernels: GemmAOffsets: negative dimension n=%d", n))
	}
	if ep != nil && ep.Residual != nil {
		panic("kernels: GemmAOffsets: a residual epilogue is not supported")
	}
	ep.check(pa.M, n)
	if len(offs) < pa.K {
		panic(fmt.Sprintf("kernels: GemmAOffsets: %d row offsets for K=%d", len(offs), pa.K))
	}
	nc := pa.OffsetCols(n)
	for p, o := range offs[:pa.K] {
		if o < 0 || int(o)+nc > len(b) {
			panic(fmt.Sprintf("kernels: GemmAOffsets: row %d of B at offset %d, %d columns, past len(b)=%d", p, o, nc, len(b)))
		}
	}
	checkMatrix("GemmAOffsets c", pa.M, nc, c, ldc)
	if pa.M == 0 || n == 0 {
		return
	}
	if !pa.offsetKernel() {
		gemmOffsetsRef(pa, n, b, offs, c, ldc, ep)
		return
	}
	nr := pa.kern.nr
	if work := pa.M * nc * pa.K; inline(work, threads) {
		// (Called directly, not through sharedFor: its closure would be allocated
		// on every call.)
		gemmOffsetsPanels(pa, 0, nc/nr, b, offs, c, ldc, ep)
	} else {
		sharedFor(nc/nr, 1, work, threads, func(lo, hi int) {
			gemmOffsetsPanels(pa, lo, hi, b, offs, c, ldc, ep)
		})
	}
	if pa.narrow8(n) {
		gemmOffsets8(pa, nc-8, b, offs, c, ldc, ep)
	}
}

// gemmOffsets8 computes the last, 8-wide panel of GemmAOffsets from column j, in 8×8
// tiles (and a 4×8 one), then applies ep to it.
func gemmOffsets8(pa *PackedA, j int, b []float32, offs []int32, c []float32, ldc int, ep *Epilogue) {
	bj := b[j:]
	for pc := 0; pc < pa.K; pc += kcBlock {
		kc := min(kcBlock, pa.K-pc)
		o := offs[pc : pc+kc]
		pa.offsetsNarrow(pa.M, kc, pa.data[pc*pa.mPad:pc*pa.mPad+pa.M*kc], bj, o, c[j:], ldc, pc > 0)
	}
	if ep.active() {
		for i := range pa.M {
			ep.applyRow(i, j, c[i*ldc+j:i*ldc+j+8])
		}
	}
}

// gemmOffsetsPanels computes the column panels [lo, hi) of GemmAOffsets with the
// micro-kernel, one kcBlock of A's packed columns at a time (PackA's layout), the
// panel of B reused from L1 across the row panels.
func gemmOffsetsPanels(pa *PackedA, lo, hi int, b []float32, offs []int32, c []float32, ldc int, ep *Epilogue) {
	kern := pa.kern
	mr, nr := kern.mr, kern.nr
	full := pa.M / mr // whole panels of A, done in one kernel call per column panel
	var edge []float32
	if full*mr < pa.M {
		// The edge tile's scratch, once per call (a local array would escape through
		// the kernel's function value, one allocation per tile).
		buf := scratchPool.Get().(*[]float32)
		defer scratchPool.Put(buf)
		if cap(*buf) < mr*nr+mr {
			*buf = make([]float32, mr*nr+mr)
		}
		edge = (*buf)[:mr*nr+mr]
	}
	for pc := 0; pc < pa.K; pc += kcBlock {
		kc := min(kcBlock, pa.K-pc)
		var te tileEpilogue
		if pc+kc == pa.K && ep.active() {
			te.relu, te.shift = ep.Relu, ep.Shift
		}
		o := offs[pc : pc+kc]
		block := pa.data[pc*pa.mPad : pc*pa.mPad+pa.mPad*kc]
		for jp := lo; jp < hi; jp++ {
			j := jp * nr
			bj := b[j:]
			if full > 0 {
				kern.offsets(full, kc, block, bj, o, c[j:], ldc, pc > 0, te)
			}
			if ir := full * mr; ir < pa.M {
				gemmOffsetsEdge(pa, ir, pc, kc, block[ir*kc:(ir+mr)*kc], bj, o, c, j, ldc, te, edge)
			}
		}
	}
}

// gemmOffsetsEdge computes the tile of the last h < mr rows of A from row ir, column
// j, k block pc, through an mr×nr tile in scratch (mr·nr + mr floats).
func gemmOffsetsEdge(pa *PackedA, ir, pc, kc int, ap, bj []float32, o []int32, c []float32, j, ldc int, te tileEpilogue, scratch []float32) {
	mr, nr := pa.kern.mr, pa.kern.nr
	h := pa.M - ir
	tile, shift := scratch[:mr*nr], scratch[mr*nr:mr*nr+mr]
	if te.shift != nil {
		copy(shift, te.shift[ir:ir+h])
		te.shift = shift
	}
	if pc > 0 {
		for i := range h {
			copy(tile[i*nr:(i+1)*nr], c[(ir+i)*ldc+j:])
		}
	}
	pa.kern.offsets(1, kc, ap, bj, o, tile, nr, pc > 0, te)
	for i := range h {
		copy(c[(ir+i)*ldc+j:(ir+i)*ldc+j+nr], tile[i*nr:(i+1)*nr])
	}
}

// gemmOffsetsRef is GemmAOffsets by rows of A and axpy, for an A kept unpacked (gonum
// builds, or too few rows for the kernels).
func gemmOffsetsRef(pa *PackedA, n int, b []float32, offs []int32, c []float32, ldc int, ep *Epilogue) {
	for i := range pa.M {
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for p := range pa.K {
			a := pa.a[i*pa.lda+p]
			if pa.transA {
				a = pa.a[p*pa.lda+i]
			}
			axpy(pa.alpha*a, b[offs[p]:int(offs[p])+n], row)
		}
		ep.applyRow(i, 0, row)
	}
}
