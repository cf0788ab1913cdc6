package graph

import "github.com/fleetprune/fleetprune/pruning/kernels"

// im2col unrolls the c×h×w image x into col, a (c·kh·kw)×(oh·ow) matrix whose column j
// holds the input patch under output position j (zeros in the padding). col must hold
// im2colSize(c, h, wd, w, oh) floats per output row block (see im2colRows).
func im2col(x []float32, c, h, wd int, w *window, oh, ow int, col []float32) {
	im2colRows(x, c, h, wd, w, oh, ow, 0, oh, col)
}

// im2colSize is the length of the col buffer im2colRows needs for a block of rows
// output rows: the patch matrix, then scratch for the phase planes of a stride-2
// window.
func im2colSize(c, h, wd int, w *window, ow, rows int) int {
	n := c * w.kh * w.kw * rows * ow
	if phased(w) {
		n += c * h * wd // the four phase planes
	}
	return n
}

// phased reports whether im2colRows splits the image into stride phases first: for
// 2×2 strides without dilation and a window of several taps, each tap is then a
// stride-1 copy out of one phase plane instead of a strided gather.
func phased(w *window) bool {
	return w.sh == 2 && w.sw == 2 && w.dh == 1 && w.dw == 1 && w.kh*w.kw > 1
}

// im2colRows is im2col restricted to output rows [y0, y1): col[:c·kh·kw·(y1-y0)·ow]
// receives the patch matrix, the rest of col (see im2colSize) is scratch.
//
// The window geometry of a kernel tap (ki, kj) is the same for every channel, so the
// in-image row and column ranges are computed once per tap and the channel loop runs
// inside: most convolutions have many channels and few, short output rows, and the
// per-row bookkeeping, not the copying, used to dominate.
func im2colRows(x []float32, c, h, wd int, w *window, oh, ow, y0, y1 int, col []float32) {
	im2colRowsT(1, x, c, h, wd, w, oh, ow, y0, y1, col)
}

// minParallelIm2col is the patch-matrix size (floats) from which im2colRowsT spreads
// the taps of a stride-1 window over threads.
const minParallelIm2col = 32 << 10

// im2colRowsT is im2colRows on up to threads goroutines: a stride-1 window's taps
// write disjoint rows of col, so a batch-1 convolution need not build its patch
// matrix on one core while the GEMM after it uses them all.
func im2colRowsT(threads int, x []float32, c, h, wd int, w *window, oh, ow, y0, y1 int, col []float32) {
	kh, kw, taps := w.kh, w.kw, w.kh*w.kw
	nb := (y1 - y0) * ow
	if !phased(w) {
		tap := func(i int) {
			ki, kj := i/kw, i%kw
			t := tapGeometry{h: h, wd: wd, off: ki*w.dh - w.pt, iw0: kj*w.dw - w.pl, sh: w.sh, sw: w.sw}
			t.copy(x, c, h*wd, ow, y0, y1, col, i, taps, nb)
		}
		if threads > 1 && taps > 1 && c*taps*nb >= minParallelIm2col {
			parallelFor(threads, taps, tap)
			return
		}
		for i := range taps {
			tap(i)
		}
		return
	}
	phases := col[c*taps*nb:]
	base, ph, pw := phaseLayout(c, h, wd)
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*wd:][:h*wd]
		for r := 0; r < h; r++ {
			// De-interleave one input row into its two column phases.
			pr, i := r&1, r>>1
			src := img[r*wd:][:wd]
			kernels.Deinterleave2Rows(phases[base[pr][0]+(ch*ph[pr]+i)*pw[0]:][:pw[0]], phases[base[pr][1]+(ch*ph[pr]+i)*pw[1]:][:pw[1]], pw[0], src, wd, wd, 1)
		}
	}
	for ki := 0; ki < kh; ki++ {
		// Input row 2·oy + ki - pt lies in phase (ki-pt) mod 2, at plane row oy + ⌊(ki-pt)/2⌋.
		pr, dy := floorMod2(ki - w.pt)
		for kj := 0; kj < kw; kj++ {
			pc, dx := floorMod2(kj - w.pl)
			t := tapGeometry{h: ph[pr], wd: pw[pc], off: dy, iw0: dx, sh: 1, sw: 1}
			t.copy(phases[base[pr][pc]:], c, ph[pr]*pw[pc], ow, y0, y1, col, ki*kw+kj, taps, nb)
		}
	}
}

// phaseLayout returns where the stride-2 phase planes of c channels of h×wd images
// start (phase (pr, pc) holds the pixels at rows ≡ pr and columns ≡ pc mod 2, a
// ph[pr]×pw[pc] plane per channel, all channels of one phase contiguous) and the plane
// sizes; the four phases take c·h·wd floats in all.
func phaseLayout(c, h, wd int) (base [2][2]int, ph, pw [2]int) {
	for p := range 2 {
		ph[p], pw[p] = (h-p+1)/2, (wd-p+1)/2
	}
	n := 0
	for pr := range 2 {
		for pc := range 2 {
			base[pr][pc] = n
			n += c * ph[pr] * pw[pc]
		}
	}
	return base, ph, pw
}

// floorMod2 splits a into its parity and ⌊a/2⌋.
func floorMod2(a int) (parity, half int) {
	parity = a & 1
	return parity, (a - parity) / 2
}

// tapGeometry is where one kernel tap reads: output (oy, ox) takes input row
// oy·sh + off and column ox·sw + iw0 of an h×wd image, zero outside it.
type tapGeometry struct{ h, wd, off, iw0, sh, sw int }

// copy writes the tap's patch-matrix rows for output rows [y0, y1) of each of the c
// images of x (plane floats apart): channel ch goes to row first + ch·step of col, each
// row nb floats.
func (t *tapGeometry) copy(x []float32, c, plane, ow, y0, y1 int, col []float32, first, step, nb int) {
	sh, sw, wd := t.sh, t.sw, t.wd
	// Output rows of the block whose input row lies inside the image.
	ylo := min(y1, max(y0, ceilDiv(-t.off, sh)))
	yhi := max(ylo, min(y1, ceilDiv(t.h-t.off, sh)))
	top, bottom := (ylo-y0)*ow, (yhi-y0)*ow
	// Output columns whose input column lies inside the image.
	lo := min(ow, max(0, ceilDiv(-t.iw0, sw)))
	hi := max(lo, min(ow, ceilDiv(wd-t.iw0, sw)))
	// src0 is the input offset of output (ylo, lo) within an image.
	src0 := (ylo*sh+t.off)*wd + t.iw0 + lo*sw
	empty := yhi == ylo || hi == lo
	for ch := 0; ch < c; ch++ {
		row := col[(first+ch*step)*nb:][:nb]
		clear(row[:top])
		clear(row[bottom:])
		if empty {
			clear(row[top:bottom])
			continue
		}
		img := x[ch*plane:][:t.h*wd]
		n := hi - lo
		if !(sw == 1 && sh == 1 && ow == wd) {
			zeroColumns(row[top:bottom], ow, 0, lo)
			zeroColumns(row[top:bottom], ow, hi, ow)
		}
		switch {
		case sw == 1 && sh == 1 && ow == wd:
			// "Same"-width stride-1 windows: the block's rows are one shifted copy of
			// the image, then the columns that wrapped around from the neighbouring
			// image row are zeroed again.
			a, b := top+lo, bottom-ow+hi
			copy(row[a:b], img[src0:src0+b-a])
			zeroColumns(row[top:bottom], ow, 0, lo)
			zeroColumns(row[top:bottom], ow, hi, ow)
		case sw == 1:
			for d, s := top+lo, src0; d < bottom; d, s = d+ow, s+sh*wd {
				copyShort(row[d:d+n], img[s:s+n])
			}
		default:
			for d, s := top+lo, src0; d < bottom; d, s = d+ow, s+sh*wd {
				// Strided gather; slicing to the span lets the compiler drop most
				// bounds checks.
				dst, in := row[d:d+n], img[s:s+(n-1)*sw+1]
				for x, j := 0, 0; x < len(dst) && j < len(in); x, j = x+1, j+sw {
					dst[x] = in[j]
				}
			}
		}
	}
}

// copyShort is copy(dst, src) for equal lengths, without the call into memmove:
// im2col copies many rows of a few floats (LeNet-5's second convolution, 4000 rows
// of 8), where the call cost more than the copying.
func copyShort(dst, src []float32) {
	src = src[:len(dst)]
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		*(*[8]float32)(dst[i : i+8]) = *(*[8]float32)(src[i : i+8])
	}
	for ; i < len(dst); i++ {
		dst[i] = src[i]
	}
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}

// zeroColumns zeroes columns [lo, hi) of every ow-wide row of m.
func zeroColumns(m []float32, ow, lo, hi int) {
	if hi <= lo {
		return
	}
	if hi-lo == 1 {
		for i := lo; i < len(m); i += ow {
			m[i] = 0
		}
		return
	}
	for r := 0; r+ow <= len(m); r += ow {
		clear(m[r+lo : r+hi])
	}
}

// col2im is the adjoint of im2col: it adds each column entry of col back into the
// image position it came from. Like im2col it works per kernel tap with the channel
// loop inside, and a stride-2 window accumulates into phase planes first, so each tap
// is a stride-1 add. col must hold im2colSize(c, h, wd, w, ow, oh) floats: the rest
// past the patch matrix is scratch, and the patch matrix itself is clobbered (entries
// that fall in the padding are zeroed).
func col2im(col []float32, c, h, wd int, w *window, oh, ow int, x []float32) {
	kh, kw, taps := w.kh, w.kw, w.kh*w.kw
	ohw := oh * ow
	if !phased(w) {
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				t := tapGeometry{h: h, wd: wd, off: ki*w.dh - w.pt, iw0: kj*w.dw - w.pl, sh: w.sh, sw: w.sw}
				t.add(col, c, h*wd, ow, oh, x, ki*kw+kj, taps, ohw)
			}
		}
		return
	}
	phases := col[c*taps*ohw:][:c*h*wd]
	clear(phases)
	base, ph, pw := phaseLayout(c, h, wd)
	for ki := 0; ki < kh; ki++ {
		pr, dy := floorMod2(ki - w.pt)
		for kj := 0; kj < kw; kj++ {
			pc, dx := floorMod2(kj - w.pl)
			t := tapGeometry{h: ph[pr], wd: pw[pc], off: dy, iw0: dx, sh: 1, sw: 1}
			t.add(col, c, ph[pr]*pw[pc], ow, oh, phases[base[pr][pc]:], ki*kw+kj, taps, ohw)
		}
	}
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*wd:][:h*wd]
		for r := 0; r < h; r++ {
			// Re-interleave one input row from its two column phases.
			pr, i := r&1, r>>1
			dst := img[r*wd:][:wd]
			d0 := phases[base[pr][0]+(ch*ph[pr]+i)*pw[0]:][:pw[0]]
			d1 := phases[base[pr][1]+(ch*ph[pr]+i)*pw[1]:][:pw[1]]
			pairs := dst[:2*len(d1)]
			d0 = d0[:len(d1)+pw[0]-pw[1]]
			for x := range d1 {
				pairs[2*x] += d0[x]
				pairs[2*x+1] += d1[x]
			}
			if pw[0] > pw[1] {
				dst[wd-1] += d0[pw[1]]
			}
		}
	}
}

// add is the adjoint of copy over all output rows: it adds the tap's patch-matrix
// rows back into the c images of x, zeroing the rows' padding entries on the way.
func (t *tapGeometry) add(col []float32, c, plane, ow, oh int, x []float32, first, step, nb int) {
	sh, sw, wd := t.sh, t.sw, t.wd
	ylo := min(oh, max(0, ceilDiv(-t.off, sh)))
	yhi := max(ylo, min(oh, ceilDiv(t.h-t.off, sh)))
	top, bottom := ylo*ow, yhi*ow
	lo := min(ow, max(0, ceilDiv(-t.iw0, sw)))
	hi := max(lo, min(ow, ceilDiv(wd-t.iw0, sw)))
	if yhi == ylo || hi == lo {
		return
	}
	dst0 := (ylo*sh+t.off)*wd + t.iw0 + lo*sw
	n := hi - lo
	for ch := 0; ch < c; ch++ {
		row := col[(first+ch*step)*nb:][:nb]
		img := x[ch*plane:][:t.h*wd]
		switch {
		case sw == 1 && sh == 1 && ow == wd:
			// One contiguous add: the entries that would wrap around into the
			// neighbouring image row are padding, zeroed first.
			zeroColumns(row[top:bottom], ow, 0, lo)
			zeroColumns(row[top:bottom], ow, hi, ow)
			a, b := top+lo, bottom-ow+hi
			addTo(img[dst0:dst0+b-a], row[a:b])
		case sw == 1:
			for d, s := dst0, top+lo; s < bottom; d, s = d+sh*wd, s+ow {
				addTo(img[d:d+n], row[s:s+n])
			}
		default:
			for d, s := dst0, top+lo; s < bottom; d, s = d+sh*wd, s+ow {
				src, out := row[s:s+n], img[d:d+(n-1)*sw+1]
				for i, j := 0, 0; i < len(src) && j < len(out); i, j = i+1, j+sw {
					out[j] += src[i]
				}
			}
		}
	}
}

// addTo adds src into dst element-wise (equal lengths): long runs with the kernels'
// vector axpy, short ones four at a time.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	if len(dst) >= 32 {
		kernels.Axpy(1, src, dst)
		return
	}
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d, s := dst[i:i+4:i+4], src[i:i+4:i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}
