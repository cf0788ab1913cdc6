//go:build amd64 && !purego

package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The AVX2/FMA kernels are Go assembly (kernel_amd64.s): no cgo and no experiment,
// so the default build has them, and a build with the purego tag, or a CPU without
// AVX2 and FMA, falls back to gonum's sgemm and the scalar loops.

// hasAVX2FMA reports whether the AVX2/FMA kernels may run on this CPU.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern4x24x(kc int, ap, bp *float32, ldbp int, c *float32, ldc int, flags int, shift, res *float32, ldr int, offs *int32, panels int)

//go:noescape
func kern4x8(kc int, ap, bp *float32, ldbp int, c *float32, ldc int)

//go:noescape
func kern4x16(kc int, ap, bp *float32, ldbp int, c *float32, ldc int)

//go:noescape
func dotAVX2(x, y *float32, n int) float32

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

//go:noescape
func deinterleave2AVX2(even, odd *float32, ldd int, src *float32, lds int, pairs, rows int)

//go:noescape
func kern4x8o(kc int, ap *float32, b *float32, offs *int32, c *float32, ldc int, accumulate bool)

//go:noescape
func kern8x8o(kc int, ap *float32, b *float32, offs *int32, c *float32, ldc int, accumulate bool)

//go:noescape
func addReluRowsAVX2(dst *float32, ldd int, x *float32, ldx int, y *float32, ldy int, n, rows int, mode int, spill bool)

// avx2Kernel is the 4×24 AVX2/FMA micro-kernel: twelve 8-wide accumulators, three
// vectors of B and one broadcast of A per k step, all sixteen YMM registers.
var avx2Kernel = kernel{mr: 4, nr: 24, full: kernel4x24, fused: kernel4x24x, narrow: kernel4xNarrow, offsets: kernel4x24o, offsets8x8: kernel8x8o, offsets4x8: kernel4x8o, name: "avx2-4x24"}

// kernel4x24 adds the tile's product to C: kernel4x24x accumulating, with no epilogue.
func kernel4x24(kc int, ap, bp []float32, ldbp int, c []float32, ldc int) {
	if kc <= 0 {
		return
	}
	kernel4x24x(kc, ap, bp, ldbp, c, ldc, true, tileEpilogue{})
}

// kernel4xNarrow is kernel4x24 for a tile of w ≤ 16 columns: it computes 8 or 16
// of them (the rest of the 24-wide tile at c is left alone).
func kernel4xNarrow(w, kc int, ap, bp []float32, ldbp int, c []float32, ldc int) {
	if kc <= 0 {
		return
	}
	_ = ap[4*kc-1]
	switch {
	case w <= 8:
		_ = bp[(kc-1)*ldbp+7]
		_ = c[3*ldc+7]
		kern4x8(kc, unsafe.SliceData(ap), unsafe.SliceData(bp), ldbp, unsafe.SliceData(c), ldc)
	case w <= 16:
		_ = bp[(kc-1)*ldbp+15]
		_ = c[3*ldc+15]
		kern4x16(kc, unsafe.SliceData(ap), unsafe.SliceData(bp), ldbp, unsafe.SliceData(c), ldc)
	default:
		kernel4x24(kc, ap, bp, ldbp, c, ldc)
	}
}

// kernel8x8o sets (accumulate: adds to) the 8×8 tile at c to the product of two
// consecutive packed 4-row panels at ap (4·kc floats each) and the 8-wide B whose row
// p is b[offs[p]:offs[p]+8]. The caller has checked b's bounds.
func kernel8x8o(kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool) {
	kernelNx8o(8, kc, ap, b, offs, c, ldc, accumulate)
}

// kernel4x8o is kernel8x8o for one 4-row panel at ap (4·kc floats): a 4×8 tile.
func kernel4x8o(kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool) {
	kernelNx8o(4, kc, ap, b, offs, c, ldc, accumulate)
}

// kernelNx8o checks the bounds of an rows×8 tile (rows 4 or 8) and runs its kernel.
func kernelNx8o(rows, kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool) {
	if kc <= 0 {
		panic("kernels: offsets 8-wide tile: empty k block")
	}
	_ = ap[rows*kc-1]
	_ = offs[kc-1]
	_ = c[(rows-1)*ldc+7]
	if rows == 8 {
		kern8x8o(kc, unsafe.SliceData(ap), unsafe.SliceData(b), &offs[0], unsafe.SliceData(c), ldc, accumulate)
		return
	}
	kern4x8o(kc, unsafe.SliceData(ap), unsafe.SliceData(b), &offs[0], unsafe.SliceData(c), ldc, accumulate)
}

// kernel4x24x is kernel4x24 that overwrites C unless accumulate is set and applies ep
// (origin at the tile) as it stores.
func kernel4x24x(kc int, ap, bp []float32, ldbp int, c []float32, ldc int, accumulate bool, ep tileEpilogue) {
	if kc <= 0 {
		panic("kernels: kernel4x24x: empty k block")
	}
	_ = ap[4*kc-1]
	_ = bp[(kc-1)*ldbp+23]
	_ = c[3*ldc+23]
	var flags int
	if accumulate {
		flags |= 1
	}
	var shift, res *float32
	if ep.shift != nil {
		_ = ep.shift[3]
		flags, shift = flags|2, &ep.shift[0]
	}
	if ep.res != nil {
		_ = ep.res[3*ep.ldr+23]
		flags, res = flags|4, &ep.res[0]
	}
	if ep.relu {
		flags |= 8
	}
	kern4x24x(kc, unsafe.SliceData(ap), unsafe.SliceData(bp), ldbp, unsafe.SliceData(c), ldc, flags, shift, res, ep.ldr, nil, 1)
}

// kernel4x24o is kernel4x24x for a B whose row p is b[offs[p]:offs[p]+24], with no
// residual, over panels consecutive tiles down C: the panels of A follow one another
// in ap (4·kc floats each) and ep.shift, when set, covers their 4·panels rows. The
// caller has checked that every offs[p]+24 <= len(b).
func kernel4x24o(panels, kc int, ap, b []float32, offs []int32, c []float32, ldc int, accumulate bool, ep tileEpilogue) {
	if kc <= 0 || panels <= 0 {
		panic("kernels: kernel4x24o: empty k block or no panels")
	}
	_ = ap[4*panels*kc-1]
	_ = offs[kc-1]
	_ = c[(4*panels-1)*ldc+23]
	var flags int
	if accumulate {
		flags |= 1
	}
	var shift *float32
	if ep.shift != nil {
		_ = ep.shift[4*panels-1]
		flags, shift = flags|2, &ep.shift[0]
	}
	if ep.res != nil {
		panic("kernels: kernel4x24o: residual not supported")
	}
	if ep.relu {
		flags |= 8
	}
	kern4x24x(kc, unsafe.SliceData(ap), unsafe.SliceData(b), 0, unsafe.SliceData(c), ldc, flags, shift, nil, 0, &offs[0], panels)
}

// ownGemm reports whether Gemm runs the packed kernels of this package rather than
// gonum's sgemm: when the CPU has AVX2 and FMA.
func ownGemm() bool { return hasAVX2FMA }

// microKernel returns the GEMM micro-kernel: AVX2/FMA when the CPU has it, else pure
// Go (used then only by tests, to check the packing code).
func microKernel() kernel {
	if hasAVX2FMA {
		return avx2Kernel
	}
	return genericKernel
}

// dot returns the inner product of x and y[:len(x)].
func dot(x, y []float32) float32 {
	if !hasAVX2FMA || len(x) == 0 {
		return dotGeneric(x, y)
	}
	_ = y[len(x)-1]
	return dotAVX2(unsafe.SliceData(x), unsafe.SliceData(y), len(x))
}

// axpy computes y += a·x over len(y) elements; x must be at least as long.
func axpy(a float32, x, y []float32) {
	if !hasAVX2FMA || len(y) == 0 {
		axpyGeneric(a, x, y)
		return
	}
	_ = x[len(y)-1]
	axpyAVX2(a, unsafe.SliceData(x), unsafe.SliceData(y), len(y))
}

// addReluRows sets dst = x + y (add), clamped at zero with relu, or copies x, over rows
// of n elements, each operand with its row stride; y is unused (and may be nil) with
// add unset. The caller has checked the bounds.
func addReluRows(dst []float32, ldd int, x []float32, ldx int, y []float32, ldy int, n, rows int, add, relu bool) {
	if !hasAVX2FMA {
		addReluRowsGeneric(dst, ldd, x, ldx, y, ldy, n, rows, add, relu)
		return
	}
	mode := 0
	var yp *float32
	if add {
		mode, yp = 1, unsafe.SliceData(y)
		if relu {
			mode = 2
		}
	}
	// Short rows contiguous in dst are stored whole but for the last: the extra lanes
	// land on the next row before it is written (and, for n >= 4, within dst).
	addReluRowsAVX2(unsafe.SliceData(dst), ldd, unsafe.SliceData(x), ldx, yp, ldy, n, rows, mode, n >= 4 && n < 8 && ldd == n)
}

// deinterleave2 is Deinterleave2Rows for pairs = n/2 pairs per row (the caller has
// checked the bounds).
func deinterleave2(even, odd []float32, ldd int, src []float32, lds int, pairs, rows int) {
	if !hasAVX2FMA || pairs == 0 || rows == 0 {
		deinterleave2Generic(even, odd, ldd, src, lds, pairs, rows)
		return
	}
	deinterleave2AVX2(unsafe.SliceData(even), unsafe.SliceData(odd), ldd, unsafe.SliceData(src), lds, pairs, rows)
}

//go:noescape
func spmv16(rowPtr *int32, idx *uint16, val *float32, x, y *float32, rows int)

// spmvRows16 sets y[i-lo] = Σ val[p]·x[idx[p]] over row i's nonzeros, for rows lo..hi-1
// of a CSR matrix whose column indices are all below len(x) (NewCSR builds them below
// Cols; callers check len(x) >= Cols).
func spmvRows16(rowPtr []int32, idx []uint16, val []float32, lo, hi int, x, y []float32) {
	if !hasAVX2FMA || hi <= lo || len(x) == 0 {
		spmvRows16Generic(rowPtr, idx, val, lo, hi, x, y)
		return
	}
	_ = rowPtr[hi]
	_ = y[hi-lo-1]
	if n := int(rowPtr[hi]); n > len(idx) || n > len(val) {
		panic("kernels: spmvRows16: row pointers past the nonzeros")
	}
	spmv16(&rowPtr[lo], unsafe.SliceData(idx), unsafe.SliceData(val), unsafe.SliceData(x), unsafe.SliceData(y), hi-lo)
}

//go:noescape
func winoInputAVX2(src *float32, plane, wq, chanStride, c, cols int, v *float32, ldx, ldc int)

// winoInput is winoInputGeneric in assembly when cols is a multiple of 8. The caller
// (Winograd.Conv) has checked the bounds.
func winoInput(src []float32, plane, wq, chanStride, c, cols int, v []float32, ldx, ldc int) {
	if !hasAVX2FMA || cols%8 != 0 || cols == 0 || c == 0 {
		winoInputGeneric(src, plane, wq, chanStride, c, cols, v, ldx, ldc)
		return
	}
	_ = src[(c-1)*chanStride+3*plane+wq+cols]
	_ = v[15*ldx+(c-1)*ldc+cols-1]
	winoInputAVX2(unsafe.SliceData(src), plane, wq, chanStride, c, cols, unsafe.SliceData(v), ldx, ldc)
}

//go:noescape
func winoFillAVX2(dst, x *float32, c, h, w, pt, plane, wq, chanStride, eoff, ooff int)

// winoFill is winoFillGeneric in assembly. The caller (WinogradFill) has checked the
// bounds and cleared dst.
func winoFill(dst, x []float32, c, h, w, pt, pl, plane, wq, chanStride int) {
	if !hasAVX2FMA || w < 2 {
		winoFillGeneric(dst, x, c, h, w, pt, pl, plane, wq, chanStride)
		return
	}
	pe := pl % 2
	winoFillAVX2(unsafe.SliceData(dst), unsafe.SliceData(x), c, h, w, pt, plane, wq, chanStride, pe*plane+pl/2, (1-pe)*plane+(pl+1)/2)
}

//go:noescape
func winoOutRowsAVX2(m *float32, ldx, ldk, k, th, wq, nv, oh, ow int, shift *float32, y, res *float32, flags int)

// winoOutRows is winoOutRowsGeneric in assembly, its vectors' spill into later rows
// kept inside y (16·nv <= 3·ow) and the last filter's last two tile rows in Go. The
// caller (Winograd.Conv) has checked the bounds.
func winoOutRows(m []float32, ldx, ldk, k, th, wq, oh, ow int, shift, y, res []float32, relu bool) {
	nv := ((ow+1)/2 + 7) / 8
	if !hasAVX2FMA || 16*nv > 3*ow {
		winoOutRowsGeneric(m, ldx, ldk, k, th, wq, oh, ow, shift, y, res, relu)
		return
	}
	var flags int
	var sp, rp *float32
	if shift != nil {
		flags, sp = 1, unsafe.SliceData(shift)
	}
	if relu {
		flags |= 2
	}
	if res != nil {
		flags, rp = flags|4, unsafe.SliceData(res)
	}
	winoOutRowsAVX2(unsafe.SliceData(m), ldx, ldk, k, th, wq, nv, oh, ow, sp, unsafe.SliceData(y), rp, flags)
	for ty := max(th-2, 0); ty < th; ty++ {
		winoOutTileRow(m, ldx, ldk, k-1, ty, wq, oh, ow, shift, y, res, relu)
	}
}
