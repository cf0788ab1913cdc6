package kernels

import "sync"

// Cache blocking of the packed GEMM (Goto's scheme): a kc×nc block of op(B) is packed
// into nr-wide column panels that stay in L2/L1, an mc×kc block of op(A) into mr-tall
// row panels, and the micro-kernel multiplies one panel pair into an mr×nr tile of C.
const (
	kcBlock = 256
	mcBlock = 120 // a multiple of the micro-kernels' mr (4)
	ncBlock = 1024
)

// packBuf holds the packing buffers of one goroutine.
type packBuf struct{ a, b []float32 }

var packPool = sync.Pool{New: func() any {
	return &packBuf{a: make([]float32, mcBlock*kcBlock), b: make([]float32, kcBlock*(ncBlock+16))}
}}

// gemmOpts are the variations of the packed GEMM beyond C += alpha·op(A)·op(B).
type gemmOpts struct {
	// pa, when set, holds A packed ahead (PackA), from its row row0 on: a, lda, transA
	// and alpha are then unused.
	pa   *PackedA
	row0 int
	// overwrite makes the first k block write C instead of adding to it (beta = 0),
	// so C needs no clearing pass.
	overwrite bool
	// ep is applied as C receives its final value, in the last k block.
	ep *Epilogue
}

// gemmPacked computes C (+)= alpha·op(A)·op(B) as o says, splitting C's columns or
// rows across goroutines for large work: whichever split leaves the busiest goroutine
// the fewest micro-tiles (64 columns in 24-wide panels split 48+16, while 50 rows in
// 4-row panels split 28+22).
func gemmPacked(kern kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, o gemmOpts) {
	work := m * n * k
	if splitColumns(m, n, kern, MaxThreads()) {
		parallelFor(n, kern.nr, work, func(lo, hi int) {
			bo := lo
			if transB {
				bo = lo * ldb
			}
			so := o
			so.ep = o.ep.sub(0, lo)
			gemmSerial(kern, transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, c[lo:], ldc, so)
		})
		return
	}
	parallelFor(m, kern.mr, work, func(lo, hi int) {
		so := o
		so.ep = o.ep.sub(lo, 0)
		if o.pa != nil {
			so.row0 = o.row0 + lo
			gemmSerial(kern, transA, transB, hi-lo, n, k, alpha, nil, lda, b, ldb, c[lo*ldc:], ldc, so)
			return
		}
		ao := lo * lda
		if transA {
			ao = lo
		}
		gemmSerial(kern, transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, c[lo*ldc:], ldc, so)
	})
}

// splitColumns reports whether to split C's columns over threads rather than its rows:
// unless splitting rows leaves the busiest thread at least 15% fewer micro-tiles, since
// with a row split every thread reads all of B.
func splitColumns(m, n int, kern kernel, threads int) bool {
	if threads <= 1 {
		return true
	}
	ceil := func(a, b int) int { return (a + b - 1) / b }
	colPanels, rowPanels := ceil(n, kern.nr), ceil(m, kern.mr)
	byCols := ceil(colPanels, threads) * rowPanels
	byRows := ceil(rowPanels, threads) * colPanels
	return 100*byRows > 85*byCols
}

// gemmSerial is the blocked GEMM on the calling goroutine: C += alpha·op(A)·op(B), or
// as o says.
func gemmSerial(kern kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, o gemmOpts) {
	buf := packPool.Get().(*packBuf)
	defer packPool.Put(buf)
	mr, nr := kern.mr, kern.nr
	pa, ep := o.pa, o.ep
	var edge [128]float32 // an mr×nr tile for partial tiles at the edges; mr·nr ≤ 128
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			write := o.overwrite && pc == 0 // C's old value is not wanted
			last := pc+kc == k
			// Without transB, full nr-wide panels of B are read in place (row stride ldb):
			// packing them cost as much as the multiply for the few-row GEMMs of
			// convolutions. Only the ragged last panel is packed.
			direct := !transB
			if direct {
				if w := nc % nr; w != 0 {
					packB(false, b, ldb, pc, jc+nc-w, kc, w, nr, buf.b)
				}
			} else {
				packB(true, b, ldb, pc, jc, kc, nc, nr, buf.b)
			}
			for ic := 0; ic < m; ic += mcBlock {
				mc := min(mcBlock, m-ic)
				apBlock := buf.a
				if pa != nil {
					apBlock = pa.data[pc*pa.mPad+(o.row0+ic)*kc:]
				} else {
					packA(transA, a, lda, ic, pc, mc, kc, mr, alpha, buf.a)
				}
				for jr := 0; jr < nc; jr += nr {
					w := min(nr, nc-jr)
					var bp []float32
					ldbp := nr
					switch {
					case direct && w == nr:
						bp, ldbp = b[pc*ldb+jc+jr:], ldb
					case direct:
						bp = buf.b[:nr*kc]
					default:
						bp = buf.b[jr*kc : (jr+nr)*kc]
					}
					for ir := 0; ir < mc; ir += mr {
						ap := apBlock[ir*kc : (ir+mr)*kc]
						h := min(mr, mc-ir)
						off := (ic+ir)*ldc + jc + jr
						if h == mr && w == nr {
							switch {
							case kern.fused != nil && (write || last && ep.active()):
								var te tileEpilogue
								if last && ep.active() {
									te = ep.tile(ic+ir, jc+jr)
								}
								kern.fused(kc, ap, bp, ldbp, c[off:], ldc, !write, te)
								continue
							case !write && !(last && ep.active()):
								kern.full(kc, ap, bp, ldbp, c[off:], ldc)
								continue
							}
						}
						tile := edge[:mr*nr]
						clear(tile)
						if w < nr && kern.narrow != nil {
							kern.narrow(w, kc, ap, bp, ldbp, tile, nr)
						} else {
							kern.full(kc, ap, bp, ldbp, tile, nr)
						}
						for i := range h {
							dst := c[off+i*ldc : off+i*ldc+w]
							if write {
								copy(dst, tile[i*nr:i*nr+w])
							} else {
								axpy(1, tile[i*nr:i*nr+w], dst)
							}
							if last {
								ep.applyRow(ic+ir+i, jc+jr, dst)
							}
						}
					}
				}
			}
		}
	}
}

// packA copies alpha times the mc×kc block of op(A) at (i0, p0) into dst as mr-tall
// panels, each stored k-major (mr values per k), zero-padded to a multiple of mr rows.
func packA(transA bool, a []float32, lda, i0, p0, mc, kc, mr int, alpha float32, dst []float32) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		h := min(mr, mc-ir)
		if h < mr {
			clear(panel)
		}
		if transA && h == 4 && mr == 4 {
			packA4T(a, lda, i0+ir, p0, kc, alpha, panel)
			continue
		}
		if transA {
			// op(A) = Aᵀ: the mr values of one k step are contiguous in A's row p.
			for p := range kc {
				src := a[(p0+p)*lda+i0+ir : (p0+p)*lda+i0+ir+h]
				dst := panel[p*mr : p*mr+h]
				for i, v := range src {
					dst[i] = alpha * v
				}
			}
			continue
		}
		if h == 4 && mr == 4 {
			packA4(a, lda, i0+ir, p0, kc, alpha, panel)
			continue
		}
		for i := range h {
			row := i0 + ir + i
			src := a[row*lda+p0 : row*lda+p0+kc]
			for p, v := range src {
				panel[p*mr+i] = alpha * v
			}
		}
	}
}

// packA4 interleaves four rows of A (from row i, columns p0..p0+kc) into a 4-tall
// panel. It is the common case of packA, written so that the compiler drops the bounds
// checks: the generic loop cost three quarters of the micro-kernel's time on LeNet-5.
func packA4(a []float32, lda, i, p0, kc int, alpha float32, panel []float32) {
	r0 := a[i*lda+p0 : i*lda+p0+kc]
	r1 := a[(i+1)*lda+p0 : (i+1)*lda+p0+kc]
	r2 := a[(i+2)*lda+p0 : (i+2)*lda+p0+kc]
	r3 := a[(i+3)*lda+p0 : (i+3)*lda+p0+kc]
	r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
	panel = panel[:4*kc]
	if alpha == 1 {
		for p := range r0 {
			d := panel[4*p : 4*p+4 : 4*p+4]
			d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		}
		return
	}
	for p := range r0 {
		d := panel[4*p : 4*p+4 : 4*p+4]
		d[0], d[1], d[2], d[3] = alpha*r0[p], alpha*r1[p], alpha*r2[p], alpha*r3[p]
	}
}

// packB copies the kc×nc block of op(B) at (p0, j0) into dst as nr-wide panels, each
// stored k-major (nr values per k), zero-padded to a multiple of nr columns.
func packB(transB bool, b []float32, ldb, p0, j0, kc, nc, nr int, dst []float32) {
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : (jr+nr)*kc]
		w := min(nr, nc-jr)
		if w < nr {
			clear(panel)
		}
		if transB {
			j := 0
			// Four rows of B at a time: four contiguous reads, one 4-wide store per k.
			for ; j+4 <= w; j += 4 {
				row := (j0 + jr + j) * ldb
				interleave4(panel[j:], nr,
					b[row+p0:row+p0+kc],
					b[row+ldb+p0:row+ldb+p0+kc],
					b[row+2*ldb+p0:row+2*ldb+p0+kc],
					b[row+3*ldb+p0:row+3*ldb+p0+kc])
			}
			for ; j < w; j++ {
				src := b[(j0+jr+j)*ldb+p0 : (j0+jr+j)*ldb+p0+kc]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			}
			continue
		}
		for p := range kc {
			src := b[(p0+p)*ldb+j0+jr : (p0+p)*ldb+j0+jr+w]
			copy(panel[p*nr:p*nr+w], src)
		}
	}
}

// packA4T is packA4 for op(A) = Aᵀ: the four values of one k step are contiguous in
// row p0+p of A, starting at column i.
func packA4T(a []float32, lda, i, p0, kc int, alpha float32, panel []float32) {
	panel = panel[:4*kc]
	for p := range kc {
		src := a[(p0+p)*lda+i : (p0+p)*lda+i+4 : (p0+p)*lda+i+4]
		d := panel[4*p : 4*p+4 : 4*p+4]
		d[0], d[1], d[2], d[3] = alpha*src[0], alpha*src[1], alpha*src[2], alpha*src[3]
	}
}

// interleave4 writes r0[p], r1[p], r2[p], r3[p] to dst[p*stride : p*stride+4] for every
// p < len(r0); the other rows must be at least as long.
func interleave4(dst []float32, stride int, r0, r1, r2, r3 []float32) {
	r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
	for p := range r0 {
		d := dst[p*stride : p*stride+4 : p*stride+4]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
	}
}
