package graph

import (
	"slices"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() { register("Conv", newConv) }

// maxChunks is how many batch slices Conv splits into. The split depends only on the
// batch size, never on the thread count, so gradients summed per slice come out the
// same for any number of threads.
const maxChunks = 8

// convOp is a 2-D grouped convolution by im2col and GEMM, parallel over the batch.
type convOp struct {
	node      *Node
	hasBias   bool
	group     int
	w         window
	n, c, h   int
	wd        int
	m, oh, ow int
	cg, mg, k int // channels and filters per group, patch length
	direct    bool
	// shifted: at inference, this convolution reads its input in place, tap by tap
	// (kernels.GemmAOffsets), instead of copying it out into a patch matrix: over a
	// zero-padded copy of each channel, split by stride into sh·sw phase planes of
	// hq×wq (one plane for stride 1), so that every tap's window is a contiguous run
	// of a plane. offs are the taps' row offsets into the copy, maxOff the largest;
	// phases marks the planes some tap reads.
	shifted bool
	hq, wq  int
	offs    []int32
	maxOff  int
	phases  []bool
	// fillRows[y] is where input row y's phase row starts in a channel's planes (-1:
	// no tap reads it); fillCols[px] says which of its columns go to phase plane px:
	// from column x0, every sw-th, n of them, to plane column q0 on.
	fillRows []int
	fillCols []struct{ x0, n, q0 int }
	// handTo is the convolution this one's output goes to alone, whose padded plane
	// its GEMM fills directly when both run shifted (conv_handoff.go); inPad is that
	// plane on the receiving one, padReady set while it holds this run's input.
	handTo   *convOp
	inPad    []float32
	padReady bool
	handoffs int // runs handed off (tests)
	// winograd: at inference with constant weights, this 3×3 stride-1 convolution runs
	// as Winograd's F(2×2, 3×3) (kernels.Winograd) over wth rows of wwq tiles (the
	// last one of each row junk), planWinograd judging it faster than shifted.
	winograd  bool
	wth, wwq  int
	wf        *kernels.Winograd // the transformed filters, for this executor's constant weights
	winoPick  winoChoice        // whether it is faster here, timed at the first run that may use it
	shiftedEp kernels.Epilogue  // shiftedEpilogue's, rewritten at each forward
	sparse    sparseForm        // per group
	ep        *epilogue         // fused BatchNormalization/Relu (inference only)

	shift  []float32          // bias merged into the fused BatchNormalization's shift
	packs  []*kernels.PackedA // the filters packed for the kernel, reused run to run
	packed bool               // packs hold this executor's constant weights (WithConstantWeights)

	// The input gradient of a stride-1 convolution is itself a convolution, of the
	// output gradient with the flipped, transposed filters (wT, window wt): computed
	// that way (gradAsConv) it is an im2col copy and a GEMM that accumulates straight
	// into the gradient, where the adjoint route is a GEMM into a cleared buffer and a
	// col2im scatter-add.
	gradAsConv bool
	wt         window
	wT         []float32

	// per-chunk views of the executor's workspace
	cols, dcols [][]float32
	// call is the running forward's state, runChunk its chunk body (chunkForward).
	call     convCall
	runChunk func(ci int)
	dws, dbs [][]float32
}

func newConv(n *Node, _ *opCtx) (op, error) {
	if err := wantInputs(n, 2, 3); err != nil {
		return nil, err
	}
	g := int(n.AttrInt("group", 1))
	if g < 1 {
		return nil, errorf("group %d < 1", g)
	}
	return &convOp{node: n, group: g, hasBias: len(n.Inputs) > 2 && n.Inputs[2] != ""}, nil
}

func (o *convOp) infer(in [][]int) ([][]int, error) {
	x, wt := in[0], in[1]
	if len(x) != 4 || len(wt) != 4 {
		return nil, errorf("input %v and weight %v must be 4-D (only 2-D convolution is supported)", x, wt)
	}
	w, err := parseWindow(o.node, wt[2:])
	if err != nil {
		return nil, err
	}
	o.w = w
	o.n, o.c, o.h, o.wd = x[0], x[1], x[2], x[3]
	o.m = wt[0]
	if o.c%o.group != 0 || o.m%o.group != 0 {
		return nil, errorf("channels %d and filters %d must divide by group %d", o.c, o.m, o.group)
	}
	o.cg, o.mg = o.c/o.group, o.m/o.group
	if wt[1] != o.cg {
		return nil, errorf("weight %v wants %d input channels per group, input has %d (group %d)", wt, wt[1], o.cg, o.group)
	}
	if o.hasBias && (len(in[2]) != 1 || in[2][0] != o.m) {
		return nil, errorf("bias %v, want [%d]", in[2], o.m)
	}
	o.oh, o.ow, err = o.w.out(o.h, o.wd)
	if err != nil {
		return nil, err
	}
	o.k = o.cg * o.w.kh * o.w.kw
	ww := o.w
	o.direct = ww.kh == 1 && ww.kw == 1 && ww.sh == 1 && ww.sw == 1 && ww.pt+ww.pl+ww.pb+ww.pr == 0
	o.planShifted()
	o.planWinograd()
	o.planGradAsConv()
	return [][]int{{o.n, o.m, o.oh, o.ow}}, nil
}

// shiftedWaste is how much more work a shifted convolution may do than the patch
// matrix route: its output rows are a phase plane's width wq, of which only ow are
// output pixels, and its tiles are whole (24 wide with the AVX2 kernel). A 28×28
// "same" 3×3 convolution computes 840 columns for 784 (7% more); a 7×7 one 72 for 49
// (29% more than the 56 of the patch route), LeNet-5's conv2 96 for 64 (50% more),
// and still both ran faster shifted than with their patch matrix copied out: one
// thread, batch 1, minimum of five (BenchmarkConvShifted): ResNet-8's 7×7 conv2
// 75 vs 86µs, LeNet-5's conv2 65 vs 95µs, ResNet-8's 28×28 3×3 67 vs 88µs.
const shiftedWaste = 0.6

// planShifted decides whether inference runs this convolution shifted (see convOp):
// for ungrouped windows that are not 1×1 stride 1 without padding (those read their
// input in place already), when the wasted columns stay within shiftedWaste.
func (o *convOp) planShifted() {
	w := o.w
	o.shifted = false
	if o.direct || o.group != 1 {
		return
	}
	hp, wp := o.h+w.pt+w.pb, o.wd+w.pl+w.pr
	if w.sw == 1 {
		// Without column phases, a row's right padding and the next row's left
		// padding can be the same zeros: rows of wd+max(pl, pr), one junk output
		// column per row fewer for a "same" 3×3 window (840 columns become 812 at
		// 28×28, 224 become 210 at 14×14). A window reaching past a row's end reads
		// the next row's left padding, or the plane after it.
		wp = o.wd + max(w.pl, w.pr)
	}
	o.hq, o.wq = (hp+w.sh-1)/w.sh, (wp+w.sw-1)/w.sw
	if o.oh-1+(w.kh-1)*w.dh/w.sh >= o.hq || w.sw > 1 && o.ow-1+(w.kw-1)*w.dw/w.sw >= o.wq {
		return // (ceil_mode windows past the padding)
	}
	const nr = 24 // the AVX2 kernel's tile width, a planning estimate
	if float64((o.oh*o.wq+nr-1)/nr*nr) > (1+shiftedWaste)*float64((o.oh*o.ow+7)/8*8) {
		return
	}
	plane := o.hq * o.wq
	chanStride := w.sh * w.sw * plane
	if int64(o.c)*int64(chanStride)+int64(o.oh*o.wq+nr) >= 1<<31 {
		return
	}
	o.offs = make([]int32, 0, o.k)
	o.phases = make([]bool, w.sh*w.sw)
	for c := range o.c {
		for ky := range w.kh {
			for kx := range w.kw {
				dy, dx := ky*w.dh, kx*w.dw
				ph := dy%w.sh*w.sw + dx%w.sw
				o.phases[ph] = true
				o.offs = append(o.offs, int32(c*chanStride+ph*plane+dy/w.sh*o.wq+dx/w.sw))
			}
		}
	}
	o.maxOff = int(slices.Max(o.offs))
	o.fillRows = make([]int, o.h)
	for y := range o.h {
		yp := y + w.pt
		py, qy := yp%w.sh, yp/w.sh
		o.fillRows[y] = -1
		for px := range w.sw {
			if o.phases[py*w.sw+px] {
				o.fillRows[y] = py*w.sw*plane + qy*o.wq
			}
		}
	}
	o.fillCols = make([]struct{ x0, n, q0 int }, w.sw)
	for px := range w.sw {
		x0 := ((px-w.pl)%w.sw + w.sw) % w.sw // input columns x with (x+pl) mod sw == px
		if x0 < o.wd {
			o.fillCols[px].x0, o.fillCols[px].n, o.fillCols[px].q0 = x0, (o.wd-x0+w.sw-1)/w.sw, (x0+w.pl)/w.sw
		}
	}
	o.shifted = true
}

// shiftedEpilogue is the part of outputAffine's pass a shifted convolution's GEMM
// applies: the shift, and Relu when there is no residual (shiftedForward adds the
// residual, and the Relu after it, as it gathers the output). nil when there is none.
func (o *convOp) shiftedEpilogue(shift, residual []float32, relu bool) *kernels.Epilogue {
	if shift == nil && (!relu || residual != nil) {
		return nil
	}
	// Kept on the op: a new one per forward was an allocation per convolution per run.
	o.shiftedEp = kernels.Epilogue{Shift: shift, Relu: relu && residual == nil}
	return &o.shiftedEp
}

// shiftedForward computes one sample of a shifted convolution (planShifted): xs is its
// input, ys its output, res its residual (nil: none). pad and tmp are scratch of at
// least shiftedSizes floats. The GEMM applies ep (shiftedEpilogue); the residual and
// Relu after it are added as the output columns are gathered from tmp.
func (o *convOp) shiftedForward(pa *kernels.PackedA, xs, ys, res, pad, tmp []float32, ep *kernels.Epilogue, relu bool, threads int) {
	if o.padReady {
		// The convolution before has written this run's input into inPad.
		pad, o.padReady = o.inPad, false
	} else {
		o.fillPhases(xs, pad)
	}
	n := o.oh * o.wq
	nc := pa.OffsetCols(n)
	kernels.GemmAOffsets(pa, n, pad, o.offs, tmp, nc, ep, threads)
	ohw := o.oh * o.ow
	// Each filter's output rows, out of the GEMM's rows of wq, in one call (one call
	// per filter was a fifth of a 1×1 shortcut's time); without junk columns (a 1×1
	// window of stride 2, no padding), as one row per filter.
	n, rows, lds := o.ow, o.oh, o.wq
	if o.wq == o.ow {
		n, rows, lds = ohw, 1, nc
	}
	kernels.GatherPlanes(ys, n, ohw, tmp, lds, nc, res, n, ohw, n, rows, o.m, relu)
}

// fillPhases writes the zero-padded input xs into pad as the phase planes that the
// taps read (see convOp.shifted).
func (o *convOp) fillPhases(xs, pad []float32) {
	w := &o.w
	if w.sw == 1 && w.sh == 1 {
		o.fillPlane(xs, pad)
		return
	}
	if w.pt+w.pl+w.pb+w.pr > 0 {
		// The padding must read as zeros. (Cells past the padded image, in the last
		// row and column of odd-sized phase planes or past the last plane, feed only
		// output columns that are discarded.)
		clear(pad)
	}
	plane := o.hq * o.wq
	chanStride := w.sh * w.sw * plane
	hw := o.h * o.wd
	if w.sw == 2 {
		// Even input columns go to phase pl mod 2 from plane column pl/2, odd ones to
		// the other phase (both are written, used or not), a row phase at a time.
		// All channels in one call per row phase.
		pe, qe, qo := w.pl%2, w.pl/2, (w.pl+1)/2
		for py := range w.sh {
			y0 := ((py-w.pt)%w.sh + w.sh) % w.sh // the first input row in row phase py
			if y0 >= o.h || !o.phases[2*py] && !o.phases[2*py+1] {
				continue
			}
			base := 2*py*plane + (y0+w.pt)/w.sh*o.wq
			kernels.Deinterleave2Planes(pad[base+pe*plane+qe:], pad[base+(1-pe)*plane+qo:], o.wq, chanStride,
				xs[y0*o.wd:], w.sh*o.wd, hw, o.wd, (o.h-y0+w.sh-1)/w.sh, o.c)
		}
		return
	}
	// Other strides, row by row, through the mapping planShifted made.
	for c := range o.c {
		for y, rb := range o.fillRows {
			if rb < 0 {
				continue
			}
			row := xs[c*hw+y*o.wd:][:o.wd]
			base := c*chanStride + rb
			if w.sw == 1 {
				copy(pad[base+w.pl:][:o.wd], row)
				continue
			}
			py := rb / (w.sw * plane)
			for px, fc := range o.fillCols {
				if fc.n == 0 || !o.phases[py*w.sw+px] {
					continue
				}
				dst := pad[base+px*plane+fc.q0:][:fc.n]
				src := row[fc.x0:]
				for i := range dst {
					dst[i] = src[i*w.sw]
				}
			}
		}
	}
}

// fillPlane is fillPhases for stride 1: each channel's rows, each into its padded
// row, and zeros only where no row goes (the padding, one or two floats between rows
// of a "same" window), not over the whole buffer first.
func (o *convOp) fillPlane(xs, pad []float32) {
	w := &o.w
	chanStride, hw := o.hq*o.wq, o.h*o.wd
	padded := w.pt+w.pl+w.pb+w.pr > 0
	end := 0 // the end of the last row written
	for c := range o.c {
		first := c*chanStride + w.pt*o.wq + w.pl
		kernels.CopyRows(pad[first:], o.wq, xs[c*hw:], o.wd, o.wd, o.h)
		if !padded {
			continue
		}
		clear(pad[end:first])
		end = first + (o.h-1)*o.wq + o.wd
		for i := first + o.wd; i < end; i += o.wq {
			for j := range o.wq - o.wd { // (1 for a "same" 3×3 window)
				pad[i+j] = 0
			}
		}
	}
	if padded {
		clear(pad[end:])
	}
}

// shiftedSizes returns the scratch shiftedForward needs with pa: the phase planes
// (with room for the last tap's whole tiles) and the GEMM's output.
func (o *convOp) shiftedSizes(pa *kernels.PackedA) (pad, tmp int) {
	nc := pa.OffsetCols(o.oh * o.wq)
	return max(o.c*o.w.sh*o.w.sw*o.hq*o.wq, o.maxOff+nc), o.m * nc
}

// packFilters packs each group's filters (mg×k) as the GEMMs' left operand, into the
// storage of the previous run. With scale set, filter i is scaled by scale[i]: a fused
// BatchNormalization's scale, folded in so the GEMM's epilogue only adds.
func (o *convOp) packFilters(wt, scale []float32) []*kernels.PackedA {
	if len(o.packs) != o.group {
		o.packs = make([]*kernels.PackedA, o.group)
	}
	for g := range o.packs {
		var rs []float32
		if scale != nil {
			rs = scale[g*o.mg : (g+1)*o.mg]
		}
		o.packs[g] = kernels.PackAInto(o.packs[g], false, o.mg, o.k, 1, wt[g*o.mg*o.k:], o.k, rs)
	}
	return o.packs
}

// gemmEpilogue is the kernel epilogue of the GEMM computing group g of sample s from
// output column col0 on: outputAffine's shift, residual and Relu (its scale is folded
// into the packed filters). nil when there is nothing to apply.
func (o *convOp) gemmEpilogue(s, g, col0 int, shift, residual []float32, relu bool) *kernels.Epilogue {
	if shift == nil && residual == nil && !relu {
		return nil
	}
	ep := &kernels.Epilogue{Relu: relu}
	if shift != nil {
		ep.Shift = shift[g*o.mg : (g+1)*o.mg]
	}
	if residual != nil {
		ohw := o.oh * o.ow
		ep.Residual, ep.LdRes = residual[(s*o.m+g*o.mg)*ohw+col0:], ohw
	}
	return ep
}

// planGradAsConv decides whether backward computes the input gradient as a
// convolution: for ungrouped stride-1, undilated windows whose padding is less than
// the kernel, when its patch matrix (m·kh·kw × h·w) is no larger than the adjoint's
// (c·kh·kw × oh·ow), as for the "same" 3×3 convolutions of a ResNet.
func (o *convOp) planGradAsConv() {
	w := o.w
	o.gradAsConv = false
	if o.direct || o.group != 1 || w.sh != 1 || w.sw != 1 || w.dh != 1 || w.dw != 1 ||
		w.pt >= w.kh || w.pb >= w.kh || w.pl >= w.kw || w.pr >= w.kw || o.m*o.h*o.wd > o.c*o.oh*o.ow {
		return
	}
	o.wt = window{kh: w.kh, kw: w.kw, sh: 1, sw: 1, dh: 1, dw: 1, pt: w.kh - 1 - w.pt, pl: w.kw - 1 - w.pl, pb: w.kh - 1 - w.pb, pr: w.kw - 1 - w.pr}
	if h, wd, err := o.wt.out(o.oh, o.ow); err != nil || h != o.h || wd != o.wd {
		return
	}
	o.gradAsConv = true
}

// transposeFilters fills o.wT with the filters of the gradient convolution:
// wT[c][m][a][b] = w[m][c][kh-1-a][kw-1-b].
func (o *convOp) transposeFilters(wt []float32) {
	kh, kw := o.w.kh, o.w.kw
	taps := kh * kw
	if len(o.wT) != o.m*o.k {
		o.wT = make([]float32, o.m*o.k)
	}
	for m := 0; m < o.m; m++ {
		for c := 0; c < o.c; c++ {
			src := wt[(m*o.c+c)*taps:][:taps]
			dst := o.wT[(c*o.m+m)*taps:][:taps]
			for t, v := range src {
				dst[taps-1-t] = v
			}
		}
	}
}

// chunks returns the batch slices [lo, hi) of chunk i.
func (o *convOp) chunk(i, nc int) (lo, hi int) { return i * o.n / nc, (i + 1) * o.n / nc }

func (o *convOp) numChunks() int { return min(o.n, maxChunks) }

func (o *convOp) forward(r *runState, in, out []*tensor.Tensor) {
	x, wt, y := in[0].Data, in[1].Data, out[0].Data
	var bias []float32
	if o.hasBias {
		bias = in[2].Data
	}
	nc := o.numChunks()
	ohw := o.oh * o.ow
	sparse := o.sparse != nil && !r.training
	depthwise := o.cg == 1 && o.mg == 1 && !sparse
	// The patch matrix is built a block of output rows at a time, small enough to stay
	// in cache while the GEMM reads it.
	rb := max(1, min(o.oh, convBlockFloats/(o.k*o.ow)))
	// With gonum's sgemm, when this convolution runs on several goroutines (batch
	// chunks, or for one sample its row blocks), each block's GEMM is kept small
	// enough that the kernel does not fan out again inside: nested fan-out
	// oversubscribes the cores. Where that would leave blocks too narrow for the GEMM,
	// the blocks stay large; a single sample then leaves the parallelism to the
	// kernel. The packed kernels divide their threads among concurrent calls on their
	// own, and small blocks only cost them: ResNet-8's first 3×3 convolution at batch
	// 1 took 255-280µs in 2-row blocks spread over two goroutines and 113-120µs in
	// L2-sized blocks with the kernel splitting each GEMM (batch 64: 9.7-11.9ms vs
	// 5.3-6.8ms), so there the blocks stay L2-sized.
	blockThreads := 1
	gonumTiles := serialGemmTiles()
	if gonumTiles && o.fanOut(r) > 1 && !o.direct && !depthwise {
		if rp := kernelSerialMACs / (o.mg * o.k * o.ow); rp*o.ow >= minBlockCols {
			if nc == 1 {
				// (With several chunks, gemmSerial's tiles already keep gonum's
				// GEMMs serial; the blocks can stay cache-sized.)
				rb = min(rb, rp)
			}
			if nc == 1 {
				// One sample: spread its row blocks over the threads, each with its
				// own patch buffer (several samples already use them by chunk).
				blockThreads = min(r.threads, (o.oh+rb-1)/rb, maxChunks)
			}
		}
	}
	blocks := (o.oh + rb - 1) / rb
	rb = (o.oh + blocks - 1) / blocks // equal blocks: 28 rows go as 7+7+7+7, not 8+8+8+4
	scale, shift, residual, relu := o.outputAffine(r, bias)
	// GEMMs stay on their goroutine unless one sample on one goroutine is all there
	// is of a convolution worth several threads (see gemmSerial).
	tile := gonumTiles && !(nc == 1 && blockThreads == 1 && o.fanOut(r) > 1)
	// The filters of each group are packed for the kernel once per forward, not once
	// per GEMM (row block and sample), with a fused BatchNormalization's scale folded
	// in; the GEMM then applies the shift, residual and Relu as it stores its output,
	// instead of a pass over the output after it.
	wino := o.winogradAllowed(r)
	switch {
	case wino && r.forceWino:
		o.winoPick = winoFaster
	case wino && o.winoPick == winoUntimed:
		o.pickWinograd(r, in, out)
	}
	wino = wino && o.winoPick == winoFaster
	var packed []*kernels.PackedA
	switch {
	case wino:
		if o.wf == nil {
			o.wf = kernels.PackWinograd(nil, o.m, o.c, wt, scale)
		}
	case gonumTiles || sparse || depthwise:
	case r.constant && o.packed:
		packed = o.packs
	default:
		packed = o.packFilters(wt, scale)
		o.packed = r.constant
	}
	shifted := o.shifted && packed != nil && !r.training
	hand := false
	if o.handTo != nil {
		o.handTo.padReady = false
		hand = shifted && !wino && residual == nil && o.handTo.runsShifted(r) && len(o.handTo.packs) > 0
	}
	var shiftedEp *kernels.Epilogue // the same for every sample
	switch {
	case wino:
		padSize, tmpSize := o.winogradSizes()
		o.cols = r.ws.take(o.cols[:0], slotCols, nc, padSize)
		o.dcols = r.ws.take(o.dcols[:0], slotDCols, nc, tmpSize) // (backward's slots: free at inference)
	case shifted:
		shiftedEp = o.shiftedEpilogue(shift, residual, relu)
		padSize, tmpSize := o.shiftedSizes(packed[0])
		o.cols = r.ws.take(o.cols[:0], slotCols, nc, padSize)
		o.dcols = r.ws.take(o.dcols[:0], slotDCols, nc, tmpSize) // (backward's slots: free at inference)
	case !o.direct && !depthwise:
		o.cols = r.ws.take(o.cols[:0], slotCols, max(nc, blockThreads), im2colSize(o.cg, o.h, o.wd, &o.w, o.ow, rb))
	}
	o.call = convCall{r: r, x: x, wt: wt, y: y, ohw: ohw, rb: rb, blocks: blocks, blockThreads: blockThreads,
		nc: nc, tile: tile, gonumTiles: gonumTiles, sparse: sparse, depthwise: depthwise, wino: wino, shifted: shifted, hand: hand,
		packed: packed, shiftedEp: shiftedEp, scale: scale, shift: shift, residual: residual, relu: relu}
	if o.runChunk == nil {
		o.runChunk = o.chunkForward // (a method value allocates: bound once per op)
	}
	parallelFor(o.fanOut(r), nc, o.runChunk)
	o.call = convCall{} // (drop the references to this run's tensors)
}

// convCall is one inference or training forward's state, kept on its op so that the
// chunks run through a method value bound once (runChunk): as closures, a forward
// allocated three to four objects per convolution (ResNet-8: 45 per run).
type convCall struct {
	r                                   *runState
	x, wt, y                            []float32
	ohw, rb, blocks, blockThreads, nc   int
	tile, gonumTiles, sparse, depthwise bool
	wino, shifted, hand                 bool
	packed                              []*kernels.PackedA
	shiftedEp                           *kernels.Epilogue
	scale, shift, residual              []float32
	relu                                bool
}

// chunkForward computes the samples of batch chunk ci (see forward).
func (o *convOp) chunkForward(ci int) {
	c := &o.call
	x, wt, y, ohw := c.x, c.wt, c.y, c.ohw
	lo, hi := o.chunk(ci, c.nc)
	for s := lo; s < hi; s++ {
		var res []float32 // sample s's residual, for the Winograd and shifted routes
		if c.residual != nil {
			res = c.residual[s*o.m*ohw:][:o.m*ohw]
		}
		for g := 0; g < o.group; g++ {
			switch {
			case c.wino:
				o.winogradForward(x[s*o.c*o.h*o.wd:][:o.c*o.h*o.wd], y[s*o.m*ohw:][:o.m*ohw], res, o.cols[ci], o.dcols[ci], c.shift, c.relu, c.r.kernelThreads())
			case c.shifted:
				if c.hand && o.handOff(c.packed[0], x[:o.c*o.h*o.wd], o.cols[ci], c.shiftedEp, c.r.kernelThreads()) {
					continue
				}
				o.shiftedForward(c.packed[0], x[s*o.c*o.h*o.wd:][:o.c*o.h*o.wd], y[s*o.m*ohw:][:o.m*ohw], res, o.cols[ci], o.dcols[ci], c.shiftedEp, c.relu, c.r.kernelThreads())
			case c.depthwise:
				o.depthwise(x[(s*o.c+g)*o.h*o.wd:][:o.h*o.wd], wt[g*o.k:(g+1)*o.k], y[(s*o.m+g)*ohw:][:ohw])
			case o.direct:
				xs := x[(s*o.c+g*o.cg)*o.h*o.wd:]
				ys := y[(s*o.m+g*o.mg)*ohw:]
				switch {
				case c.sparse:
					o.sparse[g].Mul(ohw, 1, xs, ohw, 0, ys, ohw)
				case c.packed != nil:
					kernels.GemmAEpilogue(c.packed[g], false, ohw, xs, ohw, 0, ys, ohw, o.gemmEpilogue(s, g, 0, c.shift, c.residual, c.relu))
				default:
					gemmSerial(c.tile, false, false, o.mg, ohw, o.k, 1, wt[g*o.mg*o.k:], o.k, xs, ohw, 0, ys, ohw)
				}
			case c.blockThreads > 1:
				o.gemmBlocksParallel(s, g)
			default:
				for b := 0; b < c.blocks; b++ {
					o.gemmRows(s, g, b*c.rb, min(o.oh, (b+1)*c.rb), o.cols[ci])
				}
			}
		}
		if c.packed == nil && !c.wino && (c.scale != nil || c.shift != nil || c.residual != nil || c.relu) {
			for m := 0; m < o.m; m++ {
				var res []float32
				if c.residual != nil {
					res = c.residual[(s*o.m+m)*ohw:][:ohw]
				}
				channelAffine(y[(s*o.m+m)*ohw:][:ohw], m, c.scale, c.shift, res, c.relu)
			}
		}
	}
}

// gemmBlocksParallel computes group g of sample s a row block per goroutine, each
// with its own patch buffer (the gonum build's one-sample route, see forward).
func (o *convOp) gemmBlocksParallel(s, g int) {
	c := &o.call
	parallelForT(c.blockThreads, c.blocks, func(t, b int) {
		o.gemmRows(s, g, b*c.rb, min(o.oh, (b+1)*c.rb), o.cols[t])
	})
}

// gemmRows computes output rows [y0, y1) of group g of sample s with patch buffer col.
func (o *convOp) gemmRows(s, g, y0, y1 int, col []float32) {
	c := &o.call
	xs := c.x[(s*o.c+g*o.cg)*o.h*o.wd:]
	nb := (y1 - y0) * o.ow
	// One sample on one goroutine (its GEMM spreads over the threads): spread the
	// patch matrix too.
	im2colThreads := 1
	if c.nc == 1 && c.blockThreads == 1 && !c.gonumTiles {
		im2colThreads = c.r.threads
	}
	im2colRowsT(im2colThreads, xs, o.cg, o.h, o.wd, &o.w, o.oh, o.ow, y0, y1, col)
	ys := c.y[(s*o.m+g*o.mg)*c.ohw+y0*o.ow:]
	if c.sparse {
		o.sparse[g].Mul(nb, 1, col, nb, 0, ys, c.ohw)
		return
	}
	if c.packed != nil {
		kernels.GemmAEpilogue(c.packed[g], false, nb, col, nb, 0, ys, c.ohw, o.gemmEpilogue(s, g, y0*o.ow, c.shift, c.residual, c.relu))
		return
	}
	gemmSerial(c.tile, false, false, o.mg, nb, o.k, 1, c.wt[g*o.mg*o.k:], o.k, col, nb, 0, ys, c.ohw)
}

// outputAffine returns the per-channel pass that follows the GEMM: y·scale + shift,
// plus the residual, then Relu. scale is nil without a fused BatchNormalization, shift
// nil without bias or BatchNormalization, residual nil without a fused Add. Bias and
// BatchNormalization merge into one shift, (bias-mean)·a + B, so each output is
// touched once.
func (o *convOp) outputAffine(r *runState, bias []float32) (scale, shift, residual []float32, relu bool) {
	ep := o.ep
	if r.training || ep == nil {
		return nil, bias, nil, false
	}
	shift = bias
	if ep.bn >= 0 {
		scale = ep.scale
		shift = ep.shift
		if bias != nil {
			if len(o.shift) != o.m {
				o.shift = make([]float32, o.m)
			}
			for m := range o.shift {
				o.shift[m] = bias[m]*scale[m] + ep.shift[m]
			}
			shift = o.shift
		}
	}
	if ep.add >= 0 {
		residual = ep.residual
	}
	return scale, shift, residual, ep.relu >= 0
}

// channelAffine applies outputAffine's pass to the outputs row of channel m (res,
// when not nil, is the residual's matching row).
func channelAffine(row []float32, m int, scale, shift, res []float32, relu bool) {
	var a, b float32 = 1, 0
	if scale != nil {
		a = scale[m]
	}
	if shift != nil {
		b = shift[m]
	}
	if res != nil {
		res = res[:len(row)]
		if relu {
			for i, v := range row {
				row[i] = max(v*a+b+res[i], 0)
			}
			return
		}
		for i, v := range row {
			row[i] = v*a + b + res[i]
		}
		return
	}
	switch {
	case relu && scale != nil:
		for i, v := range row {
			row[i] = max(v*a+b, 0)
		}
	case relu:
		for i, v := range row {
			row[i] = max(v+b, 0)
		}
	case scale != nil:
		for i, v := range row {
			row[i] = v*a + b
		}
	default:
		for i, v := range row {
			row[i] = v + b
		}
	}
}

// depthwise computes one channel of a depthwise convolution (one input channel, one
// filter per group) directly: a GEMM with a single output row would not pay for its
// unrolling.
func (o *convOp) depthwise(img, w, y []float32) {
	ww := &o.w
	for oy := 0; oy < o.oh; oy++ {
		row := y[oy*o.ow : (oy+1)*o.ow]
		clear(row)
		for ki := 0; ki < ww.kh; ki++ {
			ih := oy*ww.sh - ww.pt + ki*ww.dh
			if ih < 0 || ih >= o.h {
				continue
			}
			src := img[ih*o.wd : (ih+1)*o.wd]
			for kj := 0; kj < ww.kw; kj++ {
				wv := w[ki*ww.kw+kj]
				iw0 := -ww.pl + kj*ww.dw
				// Output columns whose input column lies inside the image.
				lo := max(0, (-iw0+ww.sw-1)/ww.sw)
				hi := min(o.ow, (o.wd-iw0+ww.sw-1)/ww.sw)
				for ox := lo; ox < hi; ox++ {
					row[ox] += wv * src[iw0+ox*ww.sw]
				}
			}
		}
	}
}

func (o *convOp) setEpilogue(ep *epilogue) { o.ep = ep }

// convBlockFloats is the patch-matrix block size (floats) im2col fills before the
// GEMM consumes it: 128 KiB, which stays in L2.
const convBlockFloats = 32 << 10

// kernelSerialMACs is the GEMM size (multiply-adds) below which kernels.Gemm stays on
// the calling goroutine (kernels' fan-out threshold, half of minParallelWork per extra
// goroutine); minBlockCols is the narrowest row block worth a GEMM call.
const (
	kernelSerialMACs = 128 << 10
	minBlockCols     = 32
)

// minParallelMACs is the convolution size (multiply-adds) from which its work is
// spread over threads. Waking a parked thread costs tens of microseconds on a busy
// machine, the time of a few hundred thousand multiply-adds, so smaller convolutions
// (LeNet-5's first layer, ResNet-8's stem) stay on the calling goroutine.
const minParallelMACs = 1 << 20

// fanOut is the number of threads worth using for this convolution.
func (o *convOp) fanOut(r *runState) int {
	if o.n*o.m*o.k*o.oh*o.ow < minParallelMACs {
		return 1
	}
	return r.threads
}

func (o *convOp) buildSparse(w *tensor.Tensor) sparseForm {
	f := make(sparseForm, o.group)
	for g := range f {
		f[g] = kernels.NewCSR(w.Data[g*o.mg*o.k:(g+1)*o.mg*o.k], o.mg, o.k)
	}
	return f
}

func (o *convOp) setSparse(f sparseForm) { o.sparse = f }

func (o *convOp) backward(r *runState, in, _, gOut, gIn []*tensor.Tensor) {
	x, wt, gy := in[0].Data, in[1].Data, gOut[0].Data
	gx, gw := gIn[0], gIn[1]
	var gb *tensor.Tensor
	if o.hasBias {
		gb = gIn[2]
	}
	nc := o.numChunks()
	ohw := o.oh * o.ow
	wsize := o.m * o.k
	if gw != nil {
		o.dws = r.ws.take(o.dws[:0], slotDW, nc, wsize)
		if !o.direct {
			o.cols = r.ws.take(o.cols[:0], slotCols, nc, im2colSize(o.cg, o.h, o.wd, &o.w, o.ow, o.oh))
		}
	}
	if gb != nil {
		o.dbs = r.ws.take(o.dbs[:0], slotDB, nc, o.m)
	}
	switch {
	case gx != nil && o.gradAsConv:
		o.transposeFilters(wt)
		o.dcols = r.ws.take(o.dcols[:0], slotDCols, nc, im2colSize(o.m, o.oh, o.ow, &o.wt, o.wd, o.h))
	case gx != nil && !o.direct:
		o.dcols = r.ws.take(o.dcols[:0], slotDCols, nc, im2colSize(o.cg, o.h, o.wd, &o.w, o.ow, o.oh))
	}
	tile := serialGemmTiles() && !(nc == 1 && o.fanOut(r) > 1)
	// The input gradient's left operand (the transposed or flipped filters) is the
	// same for every sample: pack it once.
	var gradA []*kernels.PackedA
	if gx != nil && !serialGemmTiles() {
		gradA = make([]*kernels.PackedA, o.group)
		for g := range gradA {
			if o.gradAsConv {
				mk := o.m * o.w.kh * o.w.kw
				gradA[g] = kernels.PackA(false, o.c, mk, 1, o.wT, mk)
			} else {
				gradA[g] = kernels.PackA(true, o.k, o.mg, 1, wt[g*o.mg*o.k:], o.k)
			}
		}
	}
	parallelFor(o.fanOut(r), nc, func(ci int) {
		lo, hi := o.chunk(ci, nc)
		if gw != nil {
			clear(o.dws[ci][:wsize])
		}
		if gb != nil {
			clear(o.dbs[ci][:o.m])
		}
		for s := lo; s < hi; s++ {
			for g := 0; g < o.group; g++ {
				xs := x[(s*o.c+g*o.cg)*o.h*o.wd:]
				dys := gy[(s*o.m+g*o.mg)*ohw:]
				if gw != nil {
					col := xs
					if !o.direct {
						col = o.cols[ci]
						im2col(xs, o.cg, o.h, o.wd, &o.w, o.oh, o.ow, col)
					}
					gemmSerial(tile, false, true, o.mg, o.k, ohw, 1, dys, ohw, col, ohw, 1, o.dws[ci][g*o.mg*o.k:], o.k)
				}
				if gx != nil {
					gxs := gx.Data[(s*o.c+g*o.cg)*o.h*o.wd:]
					if o.gradAsConv {
						hw, mk := o.h*o.wd, o.m*o.w.kh*o.w.kw
						dcol := o.dcols[ci]
						im2col(dys, o.m, o.oh, o.ow, &o.wt, o.h, o.wd, dcol)
						if gradA != nil {
							kernels.GemmA(gradA[g], false, hw, dcol, hw, 1, gxs, hw)
						} else {
							gemmSerial(tile, false, false, o.c, hw, mk, 1, o.wT, mk, dcol, hw, 1, gxs, hw)
						}
						continue
					}
					dst, beta, ld := gxs, float32(1), ohw
					if !o.direct {
						dst, beta = o.dcols[ci], 0
					}
					if gradA != nil {
						kernels.GemmA(gradA[g], false, ohw, dys, ohw, beta, dst, ld)
					} else {
						gemmSerial(tile, true, false, o.k, ohw, o.mg, 1, wt[g*o.mg*o.k:], o.k, dys, ohw, beta, dst, ld)
					}
					if !o.direct {
						col2im(dst, o.cg, o.h, o.wd, &o.w, o.oh, o.ow, gxs)
					}
				}
			}
			if gb != nil {
				db := o.dbs[ci]
				for m := 0; m < o.m; m++ {
					var sum float32
					for _, v := range gy[(s*o.m+m)*ohw:][:ohw] {
						sum += v
					}
					db[m] += sum
				}
			}
		}
	})
	for ci := 0; ci < nc; ci++ {
		if gw != nil {
			accumulate(gw.Data, o.dws[ci][:wsize])
		}
		if gb != nil {
			accumulate(gb.Data, o.dbs[ci][:o.m])
		}
	}
}
