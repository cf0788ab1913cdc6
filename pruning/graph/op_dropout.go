package graph

import "github.com/fleetprune/fleetprune/pruning/tensor"

func init() { register("Dropout", newDropout) }

// dropoutOp is the identity in inference; in training it zeroes each element with
// probability ratio and scales the rest by 1/(1-ratio). The optional second output is
// the keep mask as 0/1 floats.
type dropoutOp struct {
	ratio float32
	mask  []float32
}

func newDropout(n *Node, c *opCtx) (op, error) {
	if err := wantInputs(n, 1, 3); err != nil {
		return nil, err
	}
	o := &dropoutOp{ratio: n.AttrFloat("ratio", 0.5)}
	if len(n.Inputs) > 1 && n.Inputs[1] != "" {
		t := c.constant(n.Inputs[1])
		if t == nil || t.Len() != 1 {
			return nil, errorf("ratio %q must be a one-value initializer or Constant", n.Inputs[1])
		}
		o.ratio = t.Data[0]
	}
	if o.ratio < 0 || o.ratio >= 1 {
		return nil, errorf("ratio %v not in [0, 1)", o.ratio)
	}
	return o, nil
}

func (o *dropoutOp) infer(in [][]int) ([][]int, error) {
	if in[0] == nil {
		return nil, errorf("missing input")
	}
	return [][]int{append([]int(nil), in[0]...), append([]int(nil), in[0]...)}, nil
}

func (o *dropoutOp) forward(r *runState, in, out []*tensor.Tensor) {
	x, y := in[0].Data, out[0].Data
	if !r.training || o.ratio == 0 {
		copy(y, x)
		if len(out) > 1 {
			for i := range out[1].Data {
				out[1].Data[i] = 1
			}
		}
		o.mask = nil
		return
	}
	if len(o.mask) != len(x) {
		o.mask = make([]float32, len(x))
	}
	scale := 1 / (1 - o.ratio)
	for i, v := range x {
		if r.rng.Float32() < o.ratio {
			o.mask[i], y[i] = 0, 0
		} else {
			o.mask[i], y[i] = 1, v*scale
		}
	}
	if len(out) > 1 {
		copy(out[1].Data, o.mask)
	}
}

func (o *dropoutOp) backward(_ *runState, _, _, gOut, gIn []*tensor.Tensor) {
	if gIn[0] == nil {
		return
	}
	gy, gx := gOut[0].Data, gIn[0].Data
	if o.mask == nil {
		accumulate(gx, gy)
		return
	}
	scale := 1 / (1 - o.ratio)
	for i, m := range o.mask {
		gx[i] += gy[i] * m * scale
	}
}
