package graph

import "github.com/fleetprune/fleetprune/pruning/tensor"

func init() { register("Concat", newConcat) }

// concatOp joins its inputs along axis.
type concatOp struct {
	axis  int
	outer int   // product of dimensions before axis
	inner []int // per input: elements per outer index
}

func newConcat(n *Node, _ *opCtx) (op, error) {
	if len(n.Inputs) < 1 {
		return nil, errorf("want at least 1 input")
	}
	a, ok := n.Attrs["axis"]
	if !ok {
		return nil, errorf("missing attribute axis")
	}
	return &concatOp{axis: int(a.Int)}, nil
}

func (o *concatOp) infer(in [][]int) ([][]int, error) {
	if in[0] == nil {
		return nil, errorf("missing input 0")
	}
	r := len(in[0])
	ax := o.axis
	if ax < 0 {
		ax += r
	}
	if ax < 0 || ax >= r {
		return nil, errorf("axis %d out of range for rank %d", o.axis, r)
	}
	o.axis = ax
	out := append([]int(nil), in[0]...)
	out[ax] = 0
	o.inner = o.inner[:0]
	for i, s := range in {
		if s == nil {
			return nil, errorf("missing input %d", i)
		}
		if len(s) != r {
			return nil, errorf("input %d has rank %d, want %d", i, len(s), r)
		}
		for d := range s {
			if d != ax && s[d] != in[0][d] {
				return nil, errorf("input %d shape %v does not match %v off axis %d", i, s, in[0], ax)
			}
		}
		out[ax] += s[ax]
		o.inner = append(o.inner, tensor.Size(s[ax:]))
	}
	o.outer = tensor.Size(in[0][:ax])
	return [][]int{out}, nil
}

func (o *concatOp) forward(_ *runState, in, out []*tensor.Tensor) {
	y := out[0].Data
	stride := len(y) / max(o.outer, 1)
	off := 0
	for i, t := range in {
		w := o.inner[i]
		for b := 0; b < o.outer; b++ {
			copy(y[b*stride+off:b*stride+off+w], t.Data[b*w:(b+1)*w])
		}
		off += w
	}
}

func (o *concatOp) backward(_ *runState, _, out, gOut, gIn []*tensor.Tensor) {
	gy := gOut[0].Data
	stride := len(out[0].Data) / max(o.outer, 1)
	off := 0
	for i, g := range gIn {
		w := o.inner[i]
		if g != nil {
			for b := 0; b < o.outer; b++ {
				accumulate(g.Data[b*w:(b+1)*w], gy[b*stride+off:b*stride+off+w])
			}
		}
		off += w
	}
}
