package graph

import "github.com/fleetprune/fleetprune/pruning/kernels"

// Handing a convolution's output to the next. A shifted convolution (planShifted)
// computes its GEMM into rows of wq with junk columns, then gathers the output from
// them; a stride-1 shifted convolution reading that output first copies it into its
// zero-padded plane, whose rows are wq apart too. When the first's output goes only to
// the second (a ResNet block's conv1, BatchNormalization and Relu fused, then conv2),
// the first writes its GEMM straight into the second's padded plane and zeroes the
// cells that are padding there: the junk columns land on the gaps between rows. One
// gather and one copy of the whole activation are gone, which matters most to pruned
// models, where these copies weigh most against the GEMMs (ResNet-8 pruned to a quarter
// of its MACs spent about a tenth of a run in them).

// planHandoffs links, in plan p of an inference executor, each convolution whose
// output (after its fused BatchNormalization and Relu, with no fused Add) is read
// only by a convolution of matching geometry (canHandTo).
func (e *Executor) planHandoffs(p *plan) {
	if e.cfg.training {
		return
	}
	readers := make([][]int, len(e.names))
	for k, cn := range e.nodes {
		for _, v := range cn.in {
			if v >= 0 {
				readers[v] = append(readers[v], k)
			}
		}
	}
	for _, v := range e.outputs {
		readers[v] = append(readers[v], -1) // (a graph output is read by the caller)
	}
	for k, cn := range e.nodes {
		a, ok := p.ops[k].(*convOp)
		if !ok || len(cn.out) != 1 {
			continue
		}
		v := cn.out[0]
		if ep := e.epilogues[k]; ep != nil {
			if ep.add >= 0 {
				continue
			}
			for _, j := range []int{ep.bn, ep.relu} {
				if j >= 0 {
					v = e.nodes[j].out[0]
				}
			}
		}
		if len(readers[v]) != 1 || readers[v][0] < 0 {
			continue
		}
		j := readers[v][0]
		if b, ok := p.ops[j].(*convOp); ok && e.nodes[j].in[0] == v && a.canHandTo(b) {
			a.handTo = b
		}
	}
}

// canHandTo reports whether o can write its GEMM into b's padded plane: both shifted,
// one sample, b of stride 1 over o's output with rows as wide as o's GEMM rows.
func (o *convOp) canHandTo(b *convOp) bool {
	return o.shifted && b.shifted && o.n == 1 && b.n == 1 && b.w.sh == 1 && b.w.sw == 1 &&
		b.c == o.m && b.h == o.oh && b.wd == o.ow && b.wq == o.wq
}

// runsShifted reports whether o's next forward on r runs shifted with no timing of
// its routes first (a run that times them reads its input more than once). o is a
// hand-off's receiver: one sample (canHandTo).
func (o *convOp) runsShifted(r *runState) bool {
	if !o.shifted || r.training || serialGemmTiles() || o.sparse != nil {
		return false
	}
	return !o.winogradAllowed(r) || !r.forceWino && o.winoPick == winoSlower
}

// handOff computes one sample of o into its consumer b's padded plane (see the top
// of the file) instead of its own output: xs is o's input, pad its scratch, ep the
// GEMM's epilogue (no residual). It reports false, having done nothing, when o's GEMM
// rows would not fit b's planes; o then runs as usual.
func (o *convOp) handOff(pa *kernels.PackedA, xs, pad []float32, ep *kernels.Epilogue, threads int) bool {
	b := o.handTo
	n := o.oh * o.wq
	nc := pa.OffsetCols(n)
	cs := b.hq * b.wq           // b's channel planes
	off := b.w.pt*b.wq + b.w.pl // where b's first input row starts in its plane
	if nc > cs {
		return false // (a filter's GEMM row would spill onto the next plane's data)
	}
	bPad, _ := b.shiftedSizes(b.packs[0])
	size := max(bPad, (o.m-1)*cs+off+nc)
	if len(b.inPad) < size {
		b.inPad = make([]float32, size)
	}
	if o.padReady {
		// Handed this run's input in turn (a chain of such convolutions).
		pad, o.padReady = o.inPad, false
	} else {
		o.fillPhases(xs, pad)
	}
	kernels.GemmAOffsets(pa, n, pad, o.offs, b.inPad[off:], cs, ep, threads)
	// Zeros where b's padding is: before the first row, the junk columns between
	// rows, after the last row; and past the last plane, what the GEMM wrote there.
	in := b.inPad
	gap := o.wq - o.ow // junk columns per row: 1 for a "same" 3×3 window
	for c := range o.m {
		base := c * cs
		clear(in[base : base+off])
		g0, last := base+off+o.ow, base+off+(o.oh-1)*o.wq+o.ow
		for i := g0; i < last; i += o.wq {
			for j := range gap {
				in[i+j] = 0
			}
		}
		clear(in[last : base+cs])
	}
	if end := (o.m-1)*cs + off + nc; end > o.m*cs {
		clear(in[o.m*cs : end])
	}
	b.padReady = true
	o.handoffs++
	return true
}
