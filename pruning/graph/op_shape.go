package graph

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() {
	register("Identity", func(n *Node, _ *opCtx) (op, error) {
		if err := wantInputs(n, 1, 1); err != nil {
			return nil, err
		}
		return copyOp{}, nil
	})
	register("Flatten", newFlatten)
	register("Reshape", newReshape)
	register("Constant", func(n *Node, _ *opCtx) (op, error) {
		t, err := constantValue(n)
		if err != nil {
			return nil, err
		}
		return constantOp{shape: t.Shape}, nil
	})
}

// copyOp passes its input through with a possibly different shape (Identity, Flatten,
// Reshape); only the shape rule differs.
type copyOp struct{ shape func([]int) ([]int, error) }

func (o copyOp) infer(in [][]int) ([][]int, error) {
	if in[0] == nil {
		return nil, errorf("missing input")
	}
	if o.shape == nil {
		return sameShape(in)
	}
	s, err := o.shape(in[0])
	if err != nil {
		return nil, err
	}
	return [][]int{s}, nil
}
func (copyOp) forward(_ *runState, in, out []*tensor.Tensor) {
	x, y := in[0].Data, out[0].Data
	if len(y) > 0 && &y[0] == &x[0] {
		return // the memory plan aliased the output to the input
	}
	copy(y, x)
}
func (copyOp) backward(_ *runState, _, _, gOut, gIn []*tensor.Tensor) {
	if gIn[0] != nil {
		accumulate(gIn[0].Data, gOut[0].Data)
	}
}

func newFlatten(n *Node, _ *opCtx) (op, error) {
	if err := wantInputs(n, 1, 1); err != nil {
		return nil, err
	}
	axis := int(n.AttrInt("axis", 1))
	return copyOp{shape: func(s []int) ([]int, error) {
		a := axis
		if a < 0 {
			a += len(s)
		}
		if a < 0 || a > len(s) {
			return nil, errorf("axis %d out of range for rank %d", axis, len(s))
		}
		return []int{tensor.Size(s[:a]), tensor.Size(s[a:])}, nil
	}}, nil
}

func newReshape(n *Node, c *opCtx) (op, error) {
	if err := wantInputs(n, 2, 2); err != nil {
		return nil, err
	}
	st := c.constant(n.Inputs[1])
	if st == nil {
		return nil, errorf("shape input %q must be an initializer or Constant", n.Inputs[1])
	}
	if st.Rank() > 1 {
		return nil, errorf("shape input %q has rank %d, want 1", n.Inputs[1], st.Rank())
	}
	want := make([]int, st.Len())
	for i, v := range st.Data {
		if v != float32(int(v)) || v < -1 {
			return nil, errorf("shape input %q holds %v, want integers ≥ -1", n.Inputs[1], st.Data)
		}
		want[i] = int(v)
	}
	allowZero := n.AttrInt("allowzero", 0) != 0
	return copyOp{shape: func(s []int) ([]int, error) { return reshapeTarget(s, want, allowZero) }}, nil
}

// reshapeTarget resolves ONNX Reshape's 0 (copy the input dimension) and -1 (infer).
func reshapeTarget(in, want []int, allowZero bool) ([]int, error) {
	out := make([]int, len(want))
	infer := -1
	known := 1
	for i, d := range want {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, errorf("shape %v has more than one -1", want)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, errorf("shape %v copies dimension %d of a rank-%d input", want, i, len(in))
			}
			d = in[i]
		}
		out[i] = d
		known *= d
	}
	total := tensor.Size(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, errorf("cannot reshape %v to %v", in, want)
		}
		out[infer] = total / known
	}
	if tensor.Size(out) != total {
		return nil, errorf("cannot reshape %v (%d values) to %v", in, total, want)
	}
	return out, nil
}

// constantOp is folded at Compile: the executor stores its value and skips it.
type constantOp struct{ shape []int }

func (o constantOp) infer([][]int) ([][]int, error)                      { return [][]int{o.shape}, nil }
func (constantOp) forward(*runState, []*tensor.Tensor, []*tensor.Tensor) {}
func (constantOp) backward(*runState, []*tensor.Tensor, []*tensor.Tensor, []*tensor.Tensor, []*tensor.Tensor) {
}

// constantValue reads the value of a Constant node.
func constantValue(n *Node) (*tensor.Tensor, error) {
	if len(n.Outputs) != 1 {
		return nil, errorf("want 1 output, got %d", len(n.Outputs))
	}
	for name, a := range n.Attrs {
		switch name {
		case "value":
			if a.Kind != AttrTensor || a.Tensor == nil {
				return nil, errorf("attribute value is not a tensor")
			}
			if a.Tensor.Len() != tensor.Size(a.Tensor.Shape) {
				return nil, errorf("value tensor: %d values for shape %v", a.Tensor.Len(), a.Tensor.Shape)
			}
			return a.Tensor, nil
		case "value_float":
			return tensor.FromData([]float32{a.Float}), nil
		case "value_floats":
			return tensor.FromData(append([]float32(nil), a.Floats...), len(a.Floats)), nil
		case "value_int":
			return tensor.FromData([]float32{float32(a.Int)}), nil
		case "value_ints":
			d := make([]float32, len(a.Ints))
			for i, v := range a.Ints {
				d[i] = float32(v)
			}
			return tensor.FromData(d, len(d)), nil
		}
	}
	return nil, fmt.Errorf("no value attribute (value, value_float(s), value_int(s))")
}
