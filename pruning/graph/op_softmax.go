package graph

import (
	"math"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() { register("Softmax", newSoftmax) }

// softmaxOp normalizes along one axis. Before opset 13 ONNX flattens the input to 2-D
// at axis (default 1) and normalizes each row; from 13 on it normalizes along axis
// (default -1) alone.
type softmaxOp struct {
	axis      int
	coerce2D  bool
	outer, n  int // rows and row length (with inner stride)
	innerSize int
}

func newSoftmax(n *Node, c *opCtx) (op, error) {
	if err := wantInputs(n, 1, 1); err != nil {
		return nil, err
	}
	if c.opset > 0 && c.opset < 13 {
		return &softmaxOp{axis: int(n.AttrInt("axis", 1)), coerce2D: true}, nil
	}
	return &softmaxOp{axis: int(n.AttrInt("axis", -1))}, nil
}

func (o *softmaxOp) infer(in [][]int) ([][]int, error) {
	s := in[0]
	ax := o.axis
	if ax < 0 {
		ax += len(s)
	}
	if ax < 0 || ax >= len(s) {
		return nil, errorf("axis %d out of range for rank %d", o.axis, len(s))
	}
	if o.coerce2D {
		o.outer, o.n, o.innerSize = tensor.Size(s[:ax]), tensor.Size(s[ax:]), 1
	} else {
		o.outer, o.n, o.innerSize = tensor.Size(s[:ax]), s[ax], tensor.Size(s[ax+1:])
	}
	return sameShape(in)
}

func (o *softmaxOp) forward(_ *runState, in, out []*tensor.Tensor) {
	x, y := in[0].Data, out[0].Data
	for b := 0; b < o.outer; b++ {
		for j := 0; j < o.innerSize; j++ {
			base := b*o.n*o.innerSize + j
			m := x[base]
			for k := 1; k < o.n; k++ {
				m = max(m, x[base+k*o.innerSize])
			}
			var sum float64
			for k := 0; k < o.n; k++ {
				e := math.Exp(float64(x[base+k*o.innerSize] - m))
				y[base+k*o.innerSize] = float32(e)
				sum += e
			}
			inv := float32(1 / sum)
			for k := 0; k < o.n; k++ {
				y[base+k*o.innerSize] *= inv
			}
		}
	}
}

func (o *softmaxOp) backward(_ *runState, _, out, gOut, gIn []*tensor.Tensor) {
	if gIn[0] == nil {
		return
	}
	y, gy, gx := out[0].Data, gOut[0].Data, gIn[0].Data
	for b := 0; b < o.outer; b++ {
		for j := 0; j < o.innerSize; j++ {
			base := b*o.n*o.innerSize + j
			var dot float32
			for k := 0; k < o.n; k++ {
				i := base + k*o.innerSize
				dot += gy[i] * y[i]
			}
			for k := 0; k < o.n; k++ {
				i := base + k*o.innerSize
				gx[i] += y[i] * (gy[i] - dot)
			}
		}
	}
}
