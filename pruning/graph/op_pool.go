package graph

import (
	"math"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() {
	register("MaxPool", func(n *Node, _ *opCtx) (op, error) { return newPool(n, true) })
	register("AveragePool", func(n *Node, _ *opCtx) (op, error) { return newPool(n, false) })
	register("GlobalAveragePool", func(n *Node, _ *opCtx) (op, error) {
		if err := wantInputs(n, 1, 1); err != nil {
			return nil, err
		}
		return &globalAvgPoolOp{}, nil
	})
}

// poolOp is 2-D max or average pooling over NCHW. MaxPool remembers the arg-max of
// each window for backward; AveragePool divides by the window's count of input cells
// (or the full window with count_include_pad).
type poolOp struct {
	node       *Node
	isMax      bool
	includePad bool
	w          window
	nc, h, wd  int
	oh, ow     int
	argmax     []int32
	counts     []float32 // per output cell (AveragePool)
}

func newPool(n *Node, isMax bool) (op, error) {
	if err := wantInputs(n, 1, 1); err != nil {
		return nil, err
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, errorf("the Indices output is not supported")
	}
	w, err := parseWindow(n, nil)
	if err != nil {
		return nil, err
	}
	return &poolOp{node: n, isMax: isMax, w: w, includePad: n.AttrInt("count_include_pad", 0) != 0}, nil
}

func (o *poolOp) infer(in [][]int) ([][]int, error) {
	x := in[0]
	if len(x) != 4 {
		return nil, errorf("input %v must be 4-D NCHW", x)
	}
	var err error
	o.oh, o.ow, err = o.w.out(x[2], x[3])
	if err != nil {
		return nil, err
	}
	o.nc, o.h, o.wd = x[0]*x[1], x[2], x[3]
	if !o.isMax {
		o.counts = make([]float32, o.oh*o.ow)
		for y := 0; y < o.oh; y++ {
			for xx := 0; xx < o.ow; xx++ {
				h0, w0 := y*o.w.sh-o.w.pt, xx*o.w.sw-o.w.pl
				h1, w1 := h0+(o.w.kh-1)*o.w.dh+1, w0+(o.w.kw-1)*o.w.dw+1
				var cnt int
				if o.includePad {
					// Padding cells count, the overhang of ceil_mode does not.
					cnt = (min(h1, o.h+o.w.pb) - max(h0, -o.w.pt)) * (min(w1, o.wd+o.w.pr) - max(w0, -o.w.pl))
				} else {
					for i := 0; i < o.w.kh; i++ {
						for j := 0; j < o.w.kw; j++ {
							ih, iw := h0+i*o.w.dh, w0+j*o.w.dw
							if ih >= 0 && ih < o.h && iw >= 0 && iw < o.wd {
								cnt++
							}
						}
					}
				}
				o.counts[y*o.ow+xx] = float32(max(cnt, 1))
			}
		}
	}
	return [][]int{{x[0], x[1], o.oh, o.ow}}, nil
}

func (o *poolOp) forward(r *runState, in, out []*tensor.Tensor) {
	x, y := in[0].Data, out[0].Data
	ohw := o.oh * o.ow
	w := &o.w
	inside := w.pt == 0 && w.pl == 0 && w.dh == 1 && w.dw == 1 &&
		(o.oh-1)*w.sh+w.kh <= o.h && (o.ow-1)*w.sw+w.kw <= o.wd
	// Inference over inside windows needs no arg-max (see maxInsideInfer).
	if o.isMax && (r.training || !inside) && len(o.argmax) != len(y) {
		o.argmax = make([]int32, len(y))
	}
	training := r.training
	if o.nc*ohw*w.kh*w.kw < 1<<15 {
		for c := 0; c < o.nc; c++ {
			o.channel(c, x, y, training, inside)
		}
		return
	}
	nc := min(o.nc, maxChunks)
	parallelFor(r.threads, nc, func(ci int) {
		for c := ci * o.nc / nc; c < (ci+1)*o.nc/nc; c++ {
			o.channel(c, x, y, training, inside)
		}
	})
}

// channel pools image c of x (batch × channels) into y. A method, not a closure in
// forward: captured by the parallel branch's closure, it was allocated on every
// forward, serial ones too.
func (o *poolOp) channel(c int, x, y []float32, training, inside bool) {
	ohw, hw := o.oh*o.ow, o.h*o.wd
	w := &o.w
	img := x[c*hw : (c+1)*hw]
	if o.isMax && inside && !training {
		o.maxInsideInfer(img, y[c*ohw:(c+1)*ohw])
		return
	}
	if o.isMax && inside {
		o.maxInside(img, y[c*ohw:(c+1)*ohw], o.argmax[c*ohw:(c+1)*ohw])
		return
	}
	for yy := 0; yy < o.oh; yy++ {
		for xx := 0; xx < o.ow; xx++ {
			h0, w0 := yy*w.sh-w.pt, xx*w.sw-w.pl
			oi := c*ohw + yy*o.ow + xx
			if o.isMax {
				best, bi := float32(math.Inf(-1)), int32(-1)
				for i := 0; i < w.kh; i++ {
					ih := h0 + i*w.dh
					if ih < 0 || ih >= o.h {
						continue
					}
					for j := 0; j < w.kw; j++ {
						iw := w0 + j*w.dw
						if iw < 0 || iw >= o.wd {
							continue
						}
						if v := img[ih*o.wd+iw]; v > best || bi < 0 {
							best, bi = v, int32(ih*o.wd+iw)
						}
					}
				}
				y[oi], o.argmax[oi] = best, bi
				continue
			}
			var sum float32
			for i := 0; i < w.kh; i++ {
				ih := h0 + i*w.dh
				if ih < 0 || ih >= o.h {
					continue
				}
				for j := 0; j < w.kw; j++ {
					iw := w0 + j*w.dw
					if iw >= 0 && iw < o.wd {
						sum += img[ih*o.wd+iw]
					}
				}
			}
			y[oi] = sum / o.counts[yy*o.ow+xx]
		}
	}
}

// maxInside is MaxPool over one channel when every window lies inside the image
// (no padding, no dilation): no bounds checks in the inner loops.
func (o *poolOp) maxInside(img, y []float32, argmax []int32) {
	w := &o.w
	if w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 {
		o.maxInside2x2(img, y, argmax)
		return
	}
	o.maxInsideAny(img, y, argmax)
}

// maxInsideAny is maxInside for any window.
func (o *poolOp) maxInsideAny(img, y []float32, argmax []int32) {
	w := &o.w
	for yy := 0; yy < o.oh; yy++ {
		for xx := 0; xx < o.ow; xx++ {
			base := yy*w.sh*o.wd + xx*w.sw
			best, bi := img[base], base
			for i := 0; i < w.kh; i++ {
				row := img[base+i*o.wd : base+i*o.wd+w.kw]
				for j, v := range row {
					if v > best {
						best, bi = v, base+i*o.wd+j
					}
				}
			}
			y[yy*o.ow+xx], argmax[yy*o.ow+xx] = best, int32(bi)
		}
	}
}

// maxInside2x2 is maxInside for the common 2×2 stride-2 window, without branches on
// the data: the arg-max of random activations is unpredictable, and the generic
// loop's mispredicted branches cost 10% of a LeNet-5 training step. Ties go to the
// first cell in row-major order, as in maxInside.
func (o *poolOp) maxInside2x2(img, y []float32, argmax []int32) {
	wd, ow := o.wd, o.ow
	for yy := 0; yy < o.oh; yy++ {
		r0 := img[2*yy*wd:][:2*ow]
		r1 := img[(2*yy+1)*wd:][:2*ow]
		dst, am := y[yy*ow:][:ow], argmax[yy*ow:][:ow]
		base := int32(2 * yy * wd)
		for xx := range dst {
			a0, a1, b0, b1 := r0[2*xx], r0[2*xx+1], r1[2*xx], r1[2*xx+1]
			ia, ib := int32(0), int32(wd)
			if a1 > a0 {
				ia = 1
			}
			if b1 > b0 {
				ib = int32(wd) + 1
			}
			ma, mb := max(a0, a1), max(b0, b1)
			i, m := ia, ma
			if mb > ma {
				i, m = ib, mb
			}
			dst[xx], am[xx] = m, base+int32(2*xx)+i
		}
	}
}

func (o *poolOp) backward(_ *runState, _, _, gOut, gIn []*tensor.Tensor) {
	if gIn[0] == nil {
		return
	}
	gy, gx := gOut[0].Data, gIn[0].Data
	ohw, hw := o.oh*o.ow, o.h*o.wd
	w := &o.w
	for c := 0; c < o.nc; c++ {
		img := gx[c*hw : (c+1)*hw]
		for yy := 0; yy < o.oh; yy++ {
			for xx := 0; xx < o.ow; xx++ {
				oi := c*ohw + yy*o.ow + xx
				if o.isMax {
					if a := o.argmax[oi]; a >= 0 {
						img[a] += gy[oi]
					}
					continue
				}
				g := gy[oi] / o.counts[yy*o.ow+xx]
				h0, w0 := yy*w.sh-w.pt, xx*w.sw-w.pl
				for i := 0; i < w.kh; i++ {
					ih := h0 + i*w.dh
					if ih < 0 || ih >= o.h {
						continue
					}
					for j := 0; j < w.kw; j++ {
						iw := w0 + j*w.dw
						if iw >= 0 && iw < o.wd {
							img[ih*o.wd+iw] += g
						}
					}
				}
			}
		}
	}
}

// globalAvgPoolOp averages each channel's spatial plane to one value.
type globalAvgPoolOp struct{ nc, hw int }

func (o *globalAvgPoolOp) infer(in [][]int) ([][]int, error) {
	x := in[0]
	if len(x) < 3 {
		return nil, errorf("input %v must be N, C and spatial dimensions", x)
	}
	o.nc, o.hw = x[0]*x[1], tensor.Size(x[2:])
	out := []int{x[0], x[1]}
	for range x[2:] {
		out = append(out, 1)
	}
	return [][]int{out}, nil
}

func (o *globalAvgPoolOp) forward(_ *runState, in, out []*tensor.Tensor) {
	x, y := in[0].Data, out[0].Data
	inv := 1 / float32(o.hw)
	for c := 0; c < o.nc; c++ {
		y[c] = kernels.Sum(x[c*o.hw:(c+1)*o.hw]) * inv
	}
}

func (o *globalAvgPoolOp) backward(_ *runState, _, _, gOut, gIn []*tensor.Tensor) {
	if gIn[0] == nil {
		return
	}
	gy, gx := gOut[0].Data, gIn[0].Data
	inv := 1 / float32(o.hw)
	for c := 0; c < o.nc; c++ {
		g := gy[c] * inv
		row := gx[c*o.hw : (c+1)*o.hw]
		for i := range row {
			row[i] += g
		}
	}
}
