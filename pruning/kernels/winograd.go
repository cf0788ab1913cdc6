package kernels

import (
	"fmt"
	"sync"
)

// Winograd's F(2×2, 3×3) computes a 2×2 block of a stride-1 3×3 convolution's output
// (a tile) from the 4×4 input block under it with 16 multiplies per channel and filter
// instead of 36: the input block d is transformed to V = Bᵀ·d·B, the filter g to
// U = G·g·Gᵀ, and the output is Aᵀ·(U⊙V)·A, where the sum over channels of U⊙V is, for
// each of the 16 components ξ, a GEMM of the filters' U_ξ (K×C) by the tiles' V_ξ
// (C×tiles). Here the tiles are done winoBlock at a time, so that their V stays in
// cache between the input transform and the GEMMs, which run on the offsets
// micro-kernel (as GemmAOffsets) without any packing of V. M = U·V, 16 values per
// tile and filter, is kept for all tiles (L2-sized for ResNet-8's layers), and the
// output transform writes the convolution's output from it, tile row by tile row.

// winoBlock is the number of tiles (columns of the GEMMs) transformed and multiplied
// together, a multiple of the micro-kernel's 24 columns. Blocks of 24, 48, 72 and 96
// ran within noise of each other on ResNet-8's 28×28 and 14×14 layers; 24 keeps a
// 64-channel block's V (98 KiB) in L2 and was the fastest on the 7×7 one.
const winoBlock = 24

// winoXPad is the gap (floats) between a block's 16 matrices V_ξ (and M_ξ): without
// it they lie a multiple of 4 KiB apart for 64 channels, and the transforms' 16
// streams fall into the same few sets of the L1 cache.
const winoXPad = 16

// Winograd holds a 3×3 convolution's filters transformed for F(2×2, 3×3) and packed
// for the micro-kernel. It is read-only after PackWinograd and safe for concurrent use.
type Winograd struct {
	K, C int
	u    [16]*PackedA // U_ξ, K×C each
	offs []int32      // row c of a block's V_ξ: c·winoBlock floats on
	ub   []float32    // the unpacked U, kept for PackedA's fallback (gonum builds)
}

// PackWinograd transforms the K filters of C channels, 3×3 each (w holds K·C·9
// floats, as ONNX lays out a Conv weight), into dst (nil: new), with filter k scaled by
// scale[k] when scale is set (a fused BatchNormalization's scale). It panics when w
// or scale is too short.
func PackWinograd(dst *Winograd, k, c int, w, scale []float32) *Winograd {
	if k < 1 || c < 1 {
		panic(fmt.Sprintf("kernels: PackWinograd: %d filters of %d channels", k, c))
	}
	if len(w) < k*c*9 {
		panic(fmt.Sprintf("kernels: PackWinograd: %d weights for %d×%d×3×3", len(w), k, c))
	}
	if scale != nil && len(scale) < k {
		panic(fmt.Sprintf("kernels: PackWinograd: %d scales for %d filters", len(scale), k))
	}
	if dst == nil {
		dst = &Winograd{}
	}
	dst.K, dst.C = k, c
	if len(dst.ub) != 16*k*c {
		dst.ub = make([]float32, 16*k*c)
	}
	for f := range k {
		s := float32(1)
		if scale != nil {
			s = scale[f]
		}
		for ch := range c {
			u := winoFilter(w[(f*c+ch)*9:][:9])
			for q, v := range u {
				dst.ub[q*k*c+f*c+ch] = s * v
			}
		}
	}
	for q := range dst.u {
		dst.u[q] = PackAInto(dst.u[q], false, k, c, 1, dst.ub[q*k*c:(q+1)*k*c], c, nil)
	}
	dst.offs = make([]int32, c)
	for ch := range dst.offs {
		dst.offs[ch] = int32(ch * winoBlock)
	}
	return dst
}

// winoFilter returns U = G·g·Gᵀ for the 3×3 filter g (row-major), as 16 values
// row-major, with G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1].
func winoFilter(g []float32) [16]float32 {
	var gg [4][3]float32 // G·g
	for j := range 3 {
		g0, g1, g2 := g[j], g[3+j], g[6+j]
		gg[0][j], gg[1][j], gg[2][j], gg[3][j] = g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2
	}
	var u [16]float32
	for i, r := range gg {
		u[4*i], u[4*i+1], u[4*i+2], u[4*i+3] = r[0], (r[0]+r[1]+r[2])/2, (r[0]-r[1]+r[2])/2, r[2]
	}
	return u
}

// Cols returns how many tiles Conv transforms for n tiles: n rounded up to the
// GEMMs' whole micro-tiles in the last block (a multiple of 8). Conv reads that many
// tile columns of its input.
func (wf *Winograd) Cols(n int) int {
	full := n / winoBlock * winoBlock
	if r := n - full; r > 0 {
		return full + wf.blockCols(r)
	}
	return full
}

// blockCols is the number of tiles a block of n ≤ winoBlock tiles computes.
func (wf *Winograd) blockCols(n int) int {
	if wf.u[0].offsetKernel() {
		return wf.u[0].OffsetCols(n)
	}
	return (n + 7) / 8 * 8
}

// ScratchSize returns the scratch Conv needs (floats) for n tiles: the products M
// of all of them, 16 per tile and filter.
func (wf *Winograd) ScratchSize(n int) int {
	ldm := wf.Cols(n) + 8
	return 16 * (wf.K*ldm + winoXPad)
}

// winoPool holds the per-goroutine scratch of Conv's blocks: a block's V.
var winoPool = sync.Pool{New: func() any { return new([]float32) }}

// Conv computes the convolution into y, K×oh×ow: the 2×2 output tiles of oh×ow, plus
// shift[k] (nil: none) and the residual res (nil: none, else laid out as y), clamped
// at zero with relu. y must overlap neither src nor res; m is scratch of ScratchSize
// floats for the th·wq tiles, th = ⌈oh/2⌉. threads > 0 caps the goroutines Conv uses,
// the caller's included.
//
// src holds the zero-padded input (WinogradFill): per channel c, from c·chanStride
// on, its four phase planes (row parity py, column parity px; plane floats apart, in
// the order 2·py + px) of rows wq wide, so that tile t's input element (i, j) is at
// src[c·chanStride + (2·(i%2) + j%2)·plane + (i/2)·wq + j/2 + t]. Tile t = ty·wq + tx
// covers output rows 2ty, 2ty+1 and columns 2tx, 2tx+1; wq must exceed ⌈ow/2⌉, the
// tiles from tx = ⌈ow/2⌉ on being junk.
//
// The tiles are done in blocks, the input transform, the 16 GEMMs (V's block stays in
// cache between them) and M written for all tiles, then the output transform reads M
// filter by filter and writes y. Conv reads Cols(th·wq) tile columns of src; it panics
// when a slice is too short.
func (wf *Winograd) Conv(src []float32, plane, wq, chanStride int, y []float32, oh, ow int, shift, res []float32, relu bool, m []float32, threads int) {
	if oh <= 0 || ow <= 0 {
		return
	}
	th := (oh + 1) / 2
	n := th * wq
	end := wf.Cols(n)
	if plane < 0 || wq <= (ow+1)/2 || chanStride < 4*plane {
		panic(fmt.Sprintf("kernels: Winograd.Conv: planes of %d with rows of %d, %d per channel, for %d columns", plane, wq, chanStride, ow))
	}
	if need := (wf.C-1)*chanStride + 3*plane + wq + 1 + end; len(src) < need {
		panic(fmt.Sprintf("kernels: Winograd.Conv: input of %d floats, want %d", len(src), need))
	}
	if len(y) < wf.K*oh*ow || res != nil && len(res) < wf.K*oh*ow {
		panic(fmt.Sprintf("kernels: Winograd.Conv: output %d, residual %d for %d×%d×%d", len(y), len(res), wf.K, oh, ow))
	}
	if shift != nil && len(shift) < wf.K {
		panic(fmt.Sprintf("kernels: Winograd.Conv: %d shifts for %d filters", len(shift), wf.K))
	}
	if len(m) < wf.ScratchSize(n) {
		panic(fmt.Sprintf("kernels: Winograd.Conv: scratch of %d floats, want %d", len(m), wf.ScratchSize(n)))
	}
	ldm := end + 8
	mx := wf.K*ldm + winoXPad
	blocks := (n + winoBlock - 1) / winoBlock
	work := 16 * wf.K * wf.C * n
	if inline(work, threads) {
		// (sharedFor would run it inline too, after allocating the closures.)
		wf.convBlocks(0, blocks, n, src, plane, wq, chanStride, m, mx, ldm)
		winoOutRows(m, mx, ldm, wf.K, th, wq, oh, ow, shift, y, res, relu)
		return
	}
	if blocks > 1 {
		sharedFor(blocks, 1, work, threads, func(lo, hi int) {
			wf.convBlocks(lo, hi, n, src, plane, wq, chanStride, m, mx, ldm)
		})
	} else {
		// One block (a 7×7 output): its 16 GEMMs shared instead, after its input
		// transform.
		wf.convBlock(n, src, plane, wq, chanStride, m, mx, ldm, work, threads)
	}
	// The output transform by filters: each range's last filter ends without
	// spilling (winoOutRows), so ranges write disjoint rows.
	ohw := oh * ow
	sharedFor(wf.K, 4, work, threads, func(lo, hi int) {
		var s, r []float32
		if shift != nil {
			s = shift[lo:hi]
		}
		if res != nil {
			r = res[lo*ohw : hi*ohw]
		}
		winoOutRows(m[lo*ldm:], mx, ldm, hi-lo, th, wq, oh, ow, s, y[lo*ohw:hi*ohw], r, relu)
	})
}

// blockV takes a block's V from winoPool (sp, to put back): [ξ][c][winoBlock], each
// GEMM's right operand contiguous, the 16 matrices vx floats apart.
func (wf *Winograd) blockV() (sp *[]float32, v []float32, vx int) {
	sp = winoPool.Get().(*[]float32)
	vx = wf.C*winoBlock + winoXPad
	if cap(*sp) < 16*vx {
		*sp = make([]float32, 16*vx)
	}
	return sp, (*sp)[:16*vx], vx
}

// convBlock is convBlocks for a single block, its 16 GEMMs shared between goroutines
// (sharedFor) once the input transform is done.
func (wf *Winograd) convBlock(n int, src []float32, plane, wq, chanStride int, m []float32, mx, ldm, work, threads int) {
	sp, v, vx := wf.blockV()
	defer winoPool.Put(sp)
	winoInput(src, plane, wq, chanStride, wf.C, wf.blockCols(n), v, vx, winoBlock)
	sharedFor(16, 1, work, threads, func(lo, hi int) {
		wf.gemmsOf(lo, hi, n, v, vx, m, mx, ldm)
	})
}

// convBlocks computes the products M of Conv's tile blocks [lo, hi) into m (M_ξ from
// m[ξ·mx:], rows ldm apart), with V from winoPool.
func (wf *Winograd) convBlocks(lo, hi, n int, src []float32, plane, wq, chanStride int, m []float32, mx, ldm int) {
	sp, v, vx := wf.blockV()
	defer winoPool.Put(sp)
	for b := lo; b < hi; b++ {
		j0 := b * winoBlock
		nb := min(winoBlock, n-j0)
		winoInput(src[j0:], plane, wq, chanStride, wf.C, wf.blockCols(nb), v, vx, winoBlock)
		wf.gemms(nb, v, vx, m[j0:], mx, ldm)
	}
}

// gemms computes a block's M_ξ = U_ξ·V_ξ (nb tiles) for the 16 components ξ, V_ξ and
// M_ξ at v[ξ·vx:] and m[ξ·mx:], rows ld apart. With the offsets micro-kernel, filters
// in whole panels and channels in one k block (every ResNet shape), it calls the
// kernel straight, one call per component and column panel: through GemmAOffsets'
// general loops, their bookkeeping cost a tenth of the GEMMs at 16 channels.
func (wf *Winograd) gemms(nb int, v []float32, vx int, m []float32, mx, ld int) {
	wf.gemmsOf(0, 16, nb, v, vx, m, mx, ld)
}

// gemmsOf is gemms for the components [q0, q1).
func (wf *Winograd) gemmsOf(q0, q1, nb int, v []float32, vx int, m []float32, mx, ld int) {
	pa0 := wf.u[0]
	kern := pa0.kern
	if !pa0.offsetKernel() || wf.K%kern.mr != 0 || wf.C > kcBlock {
		for q := q0; q < q1; q++ {
			gemmOffsetsSerial(wf.u[q], nb, v[q*vx:], wf.offs, m[q*mx:], ld)
		}
		return
	}
	full := nb / kern.nr * kern.nr
	rest := pa0.OffsetCols(nb) - full // 0, 8 (narrow8) or nr
	panels := wf.K / kern.mr
	for q := q0; q < q1; q++ {
		pa, b, c := wf.u[q], v[q*vx:], m[q*mx:]
		for j := 0; j < full; j += kern.nr {
			kern.offsets(panels, wf.C, pa.data, b[j:], wf.offs, c[j:], ld, false, tileEpilogue{})
		}
		switch {
		case rest == 0:
		case pa0.narrow8(nb):
			pa.offsetsNarrow(wf.K, wf.C, pa.data, b[full:], wf.offs, c[full:], ld, false)
		default:
			kern.offsets(panels, wf.C, pa.data, b[full:], wf.offs, c[full:], ld, false, tileEpilogue{})
		}
	}
}

// gemmOffsetsSerial is GemmAOffsets on the calling goroutine, without its checks and
// epilogue.
func gemmOffsetsSerial(pa *PackedA, n int, b []float32, offs []int32, c []float32, ldc int) {
	if !pa.offsetKernel() {
		gemmOffsetsRef(pa, n, b, offs, c, ldc, nil)
		return
	}
	nc := pa.OffsetCols(n)
	gemmOffsetsPanels(pa, 0, nc/pa.kern.nr, b, offs, c, ldc, nil)
	if pa.narrow8(n) {
		gemmOffsets8(pa, nc-8, b, offs, c, ldc, nil)
	}
}

// winoInputGeneric is the input transform V = Bᵀ·d·B of cols tiles of c channels
// (src laid out as for Winograd.Conv), with Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0;
// 0 1 0 -1]: component ξ = 4i+j of tile t and channel ch goes to
// v[ξ·ldx + ch·ldc + t].
func winoInputGeneric(src []float32, plane, wq, chanStride, c, cols int, v []float32, ldx, ldc int) {
	for ch := range c {
		s := src[ch*chanStride:]
		vc := v[ch*ldc:]
		for t := range cols {
			var d [4][4]float32
			for i := range 4 {
				for j := range 4 {
					d[i][j] = s[(2*(i%2)+j%2)*plane+(i/2)*wq+j/2+t]
				}
			}
			var x [4][4]float32 // Bᵀ·d
			for j := range 4 {
				x[0][j] = d[0][j] - d[2][j]
				x[1][j] = d[1][j] + d[2][j]
				x[2][j] = d[2][j] - d[1][j]
				x[3][j] = d[1][j] - d[3][j]
			}
			for i, r := range x {
				vc[(4*i)*ldx+t] = r[0] - r[2]
				vc[(4*i+1)*ldx+t] = r[1] + r[2]
				vc[(4*i+2)*ldx+t] = r[2] - r[1]
				vc[(4*i+3)*ldx+t] = r[1] - r[3]
			}
		}
	}
}

// winoOutRowsGeneric is the output transform y = Aᵀ·m·A of Winograd.Conv, with
// Aᵀ = [1 1 1 0; 0 1 -1 -1]: component ξ of tile t and filter f is
// m[ξ·ldx + f·ldk + t]; see winoOutTileRow.
func winoOutRowsGeneric(m []float32, ldx, ldk, k, th, wq, oh, ow int, shift, y, res []float32, relu bool) {
	for f := range k {
		for ty := range th {
			winoOutTileRow(m, ldx, ldk, f, ty, wq, oh, ow, shift, y, res, relu)
		}
	}
}

// winoOutTileRow writes tile row ty of filter f: output rows 2ty and 2ty+1 (below oh)
// of y, the tiles' 2×2 values plus shift[f] (nil: none) and the residual (nil: none),
// clamped at zero with relu. The sums run in the order of the assembly.
func winoOutTileRow(m []float32, ldx, ldk, f, ty, wq, oh, ow int, shift, y, res []float32, relu bool) {
	var s float32
	if shift != nil {
		s = shift[f]
	}
	mf := m[f*ldk+ty*wq:]
	for tx := range (ow + 1) / 2 {
		var t0, t1 [4]float32 // Aᵀ·m
		for j := range 4 {
			m0, m1, m2, m3 := mf[j*ldx+tx], mf[(4+j)*ldx+tx], mf[(8+j)*ldx+tx], mf[(12+j)*ldx+tx]
			t0[j] = (m1 + m2) + m0
			t1[j] = (m1 - m2) - m3
		}
		out := [4]float32{
			((t0[1] + t0[2]) + t0[0]) + s,
			((t0[1] - t0[2]) - t0[3]) + s,
			((t1[1] + t1[2]) + t1[0]) + s,
			((t1[1] - t1[2]) - t1[3]) + s,
		}
		for a := range 2 {
			oy := 2*ty + a
			for b := range 2 {
				ox := 2*tx + b
				if oy >= oh || ox >= ow {
					continue
				}
				i := (f*oh+oy)*ow + ox
				v := out[2*a+b]
				if res != nil {
					v += res[i]
				}
				if relu {
					v = max(v, 0)
				}
				y[i] = v
			}
		}
	}
}

// WinogradFill lays out the c×h×w image x, zero-padded by pt rows above and pl
// columns left (and zeros elsewhere), as Winograd.Conv reads it: per channel, from
// ch·chanStride on, its four phase planes (row and column parity of the padded image,
// plane floats apart), rows wq wide. It writes the first (c-1)·chanStride + 4·plane
// floats of dst, and panics when dst or x is too short or a row does not fit.
func WinogradFill(dst, x []float32, c, h, w, pt, pl, plane, wq, chanStride int) {
	if c < 0 || h < 0 || w < 0 || pt < 0 || pl < 0 || (w+pl+1)/2 > wq || (h+pt+1)/2*wq > plane || 4*plane > chanStride {
		panic(fmt.Sprintf("kernels: WinogradFill: %d×%d×%d image padded by %d, %d into planes of %d, rows of %d, %d per channel", c, h, w, pt, pl, plane, wq, chanStride))
	}
	if c == 0 {
		return
	}
	if len(x) < c*h*w || len(dst) < (c-1)*chanStride+4*plane {
		panic(fmt.Sprintf("kernels: WinogradFill: image of %d floats for %d×%d×%d, planes of %d", len(x), c, h, w, len(dst)))
	}
	clear(dst[:(c-1)*chanStride+4*plane])
	if h > 0 && w > 0 {
		winoFill(dst, x, c, h, w, pt, pl, plane, wq, chanStride)
	}
}

// winoFillGeneric is WinogradFill's copy in Go (dst cleared).
func winoFillGeneric(dst, x []float32, c, h, w, pt, pl, plane, wq, chanStride int) {
	for ch := range c {
		for y := range h {
			yp := y + pt
			row := dst[ch*chanStride+2*(yp%2)*plane+yp/2*wq:]
			src := x[(ch*h+y)*w:][:w]
			for xx, v := range src {
				xp := xx + pl
				row[xp%2*plane+xp/2] = v
			}
		}
	}
}
