package graph

import (
	"slices"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() {
	register("Squeeze", newSqueeze)
	register("Unsqueeze", newUnsqueeze)
}

// squeezeAxes reads the axes of Squeeze or Unsqueeze: the axes attribute up to opset
// 12, the optional constant second input from opset 13 on. nil means none given.
func squeezeAxes(n *Node, c *opCtx) ([]int, error) {
	if len(n.Inputs) > 1 && n.Inputs[1] != "" {
		t := c.constant(n.Inputs[1])
		if t == nil {
			return nil, errorf("axes input %q must be an initializer or Constant", n.Inputs[1])
		}
		if t.Rank() > 1 {
			return nil, errorf("axes input %q has rank %d, want 1", n.Inputs[1], t.Rank())
		}
		axes := make([]int, t.Len())
		for i, v := range t.Data {
			if v != float32(int(v)) {
				return nil, errorf("axes input %q holds %v, want integers", n.Inputs[1], t.Data)
			}
			axes[i] = int(v)
		}
		return axes, nil
	}
	a := n.AttrInts("axes", nil)
	if a == nil {
		return nil, nil
	}
	axes := make([]int, len(a))
	for i, v := range a {
		axes[i] = int(v)
	}
	return axes, nil
}

// normAxes maps negative axes into [0, rank) and rejects repeats and axes out of range.
func normAxes(axes []int, rank int) ([]int, error) {
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += rank
		}
		if a < 0 || a >= rank {
			return nil, errorf("axis %d out of range for rank %d", axes[i], rank)
		}
		if slices.Contains(out[:i], a) {
			return nil, errorf("axis %d given twice", axes[i])
		}
		out[i] = a
	}
	return out, nil
}

// newSqueeze removes dimensions of size 1: the given axes (each must have size 1), or
// every size-1 dimension when no axes are given.
func newSqueeze(n *Node, c *opCtx) (op, error) {
	if err := wantInputs(n, 1, 2); err != nil {
		return nil, err
	}
	axes, err := squeezeAxes(n, c)
	if err != nil {
		return nil, err
	}
	return copyOp{shape: func(s []int) ([]int, error) {
		if axes == nil {
			return slices.DeleteFunc(slices.Clone(s), func(d int) bool { return d == 1 }), nil
		}
		ax, err := normAxes(axes, len(s))
		if err != nil {
			return nil, err
		}
		var out []int
		for i, d := range s {
			if !slices.Contains(ax, i) {
				out = append(out, d)
				continue
			}
			if d != 1 {
				return nil, errorf("cannot squeeze axis %d of size %d in %v", i, d, s)
			}
		}
		if out == nil {
			out = []int{}
		}
		return out, nil
	}}, nil
}

// newUnsqueeze inserts dimensions of size 1 at the given axes of the output.
func newUnsqueeze(n *Node, c *opCtx) (op, error) {
	if err := wantInputs(n, 1, 2); err != nil {
		return nil, err
	}
	axes, err := squeezeAxes(n, c)
	if err != nil {
		return nil, err
	}
	if len(axes) == 0 {
		return nil, errorf("Unsqueeze needs axes")
	}
	return copyOp{shape: func(s []int) ([]int, error) {
		rank := len(s) + len(axes)
		ax, err := normAxes(axes, rank)
		if err != nil {
			return nil, err
		}
		out := make([]int, 0, rank)
		j := 0
		for i := range rank {
			if slices.Contains(ax, i) {
				out = append(out, 1)
				continue
			}
			out = append(out, s[j])
			j++
		}
		if tensor.Size(out) != tensor.Size(s) {
			return nil, errorf("cannot unsqueeze %v at %v", s, axes)
		}
		return out, nil
	}}, nil
}
