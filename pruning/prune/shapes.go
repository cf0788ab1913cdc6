package prune

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// inferShapes computes the shape of every value it can, with the batch dimension set
// to 1. Values of operators it does not know are left out; the dependency graph then
// treats them as opaque. It returns an error when a known operator's operands do not
// fit each other (for example a Conv weight whose in-channels differ from its input),
// which is how surgery checks that a pruned graph stays consistent.
func inferShapes(g *graph.Graph) (map[string][]int, error) {
	shapes := map[string][]int{}
	for _, in := range g.Inputs {
		s := append([]int(nil), in.Shape...)
		for i, d := range s {
			if d < 0 {
				s[i] = 1
			}
		}
		shapes[in.Name] = s
	}
	for k, t := range g.Params {
		shapes[k] = append([]int(nil), t.Shape...)
	}
	for _, n := range g.Nodes {
		out, err := nodeShape(g, n, shapes)
		if err != nil {
			return nil, fmt.Errorf("prune: shapes: node %q (%s): %w", n.Name, n.Op, err)
		}
		if out != nil && len(n.Outputs) > 0 {
			shapes[n.Outputs[0]] = out
			if n.Op == "Dropout" && len(n.Outputs) > 1 && n.Outputs[1] != "" {
				shapes[n.Outputs[1]] = append([]int(nil), out...)
			}
		}
	}
	return shapes, nil
}

// constValue returns the values of a constant input: a parameter or the output of a
// Constant node.
func constValue(g *graph.Graph, name string) (*tensor.Tensor, bool) {
	if t, ok := g.Params[name]; ok {
		return t, true
	}
	if p := g.Producer(name); p != nil && p.Op == "Constant" {
		if a, ok := p.Attrs["value"]; ok && a.Kind == graph.AttrTensor && a.Tensor != nil {
			return a.Tensor, true
		}
	}
	return nil, false
}

var elementwiseUnary = map[string]bool{
	"Relu": true, "Clip": true, "Sigmoid": true, "Tanh": true, "LeakyRelu": true,
	"Dropout": true, "Identity": true, "Elu": true, "HardSigmoid": true, "HardSwish": true,
	"Softmax": true, "LogSoftmax": true, "Neg": true, "Abs": true, "Exp": true, "Sqrt": true,
}

var elementwiseBinary = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Max": true, "Min": true}

func nodeShape(g *graph.Graph, n *graph.Node, shapes map[string][]int) ([]int, error) {
	in := func(i int) []int {
		if i >= len(n.Inputs) || n.Inputs[i] == "" {
			return nil
		}
		return shapes[n.Inputs[i]]
	}
	x := in(0)
	switch {
	case n.Op == "Constant":
		if a, ok := n.Attrs["value"]; ok && a.Kind == graph.AttrTensor && a.Tensor != nil {
			return append([]int(nil), a.Tensor.Shape...), nil
		}
		return nil, nil
	case x == nil:
		return nil, nil
	case elementwiseUnary[n.Op], n.Op == "BatchNormalization":
		if n.Op == "BatchNormalization" {
			if len(x) < 2 {
				return nil, fmt.Errorf("input rank %d < 2", len(x))
			}
			for i := 1; i < 5 && i < len(n.Inputs); i++ {
				if s := in(i); s != nil && (len(s) != 1 || s[0] != x[1]) {
					return nil, fmt.Errorf("parameter %q has shape %v, want [%d]", n.Inputs[i], s, x[1])
				}
			}
		}
		return append([]int(nil), x...), nil
	case elementwiseBinary[n.Op]:
		return broadcast(x, in(1))
	case n.Op == "Conv":
		return convShape(n, x, in(1), in(2))
	case n.Op == "MaxPool" || n.Op == "AveragePool":
		if len(x) != 4 {
			return nil, nil
		}
		k := n.AttrInts("kernel_shape", nil)
		if len(k) != 2 {
			return nil, fmt.Errorf("kernel_shape %v, want 2 values", k)
		}
		return spatial(n, x, x[1], []int{int(k[0]), int(k[1])}, n.AttrInt("ceil_mode", 0) == 1)
	case n.Op == "GlobalAveragePool" || n.Op == "GlobalMaxPool":
		if len(x) != 4 {
			return nil, nil
		}
		return []int{x[0], x[1], 1, 1}, nil
	case n.Op == "Flatten":
		axis := int(n.AttrInt("axis", 1))
		if axis < 0 {
			axis += len(x)
		}
		if axis < 0 || axis > len(x) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(x))
		}
		return []int{tensor.Size(x[:axis]), tensor.Size(x[axis:])}, nil
	case n.Op == "Reshape":
		t, ok := constValue(g, n.Inputs[1])
		if !ok || len(n.Inputs) < 2 {
			return nil, nil
		}
		return reshapeShape(x, t)
	case n.Op == "Gemm":
		w := in(1)
		if len(x) != 2 || len(w) != 2 {
			return nil, fmt.Errorf("gemm operands %v and %v, want rank 2", x, w)
		}
		m, k := x[0], x[1]
		if n.AttrInt("transA", 0) == 1 {
			m, k = k, m
		}
		kb, nb := w[0], w[1]
		if n.AttrInt("transB", 0) == 1 {
			kb, nb = nb, kb
		}
		if k != kb {
			return nil, fmt.Errorf("gemm inner dimensions %d and %d differ", k, kb)
		}
		if c := in(2); c != nil && tensor.Size(c) != 1 && tensor.Size(c) != nb && tensor.Size(c) != m*nb {
			return nil, fmt.Errorf("gemm bias shape %v does not fit output [%d %d]", c, m, nb)
		}
		return []int{m, nb}, nil
	case n.Op == "MatMul":
		w := in(1)
		if len(x) < 1 || len(w) != 2 {
			return nil, nil
		}
		if x[len(x)-1] != w[0] {
			return nil, fmt.Errorf("matmul inner dimensions %d and %d differ", x[len(x)-1], w[0])
		}
		out := append([]int(nil), x...)
		out[len(out)-1] = w[1]
		return out, nil
	case n.Op == "Concat":
		axis := int(n.AttrInt("axis", 1))
		if axis < 0 {
			axis += len(x)
		}
		out := append([]int(nil), x...)
		if axis < 0 || axis >= len(x) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(x))
		}
		out[axis] = 0
		for i := range n.Inputs {
			s := in(i)
			if len(s) != len(x) {
				return nil, nil
			}
			out[axis] += s[axis]
		}
		return out, nil
	}
	return nil, nil
}

func broadcast(a, b []int) ([]int, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("cannot broadcast %v with %v", a, b)
		}
	}
	return out, nil
}

func convShape(n *graph.Node, x, w, b []int) ([]int, error) {
	if len(x) != 4 || len(w) != 4 {
		return nil, nil
	}
	group := int(n.AttrInt("group", 1))
	if group < 1 || x[1]%group != 0 || w[0]%group != 0 {
		return nil, fmt.Errorf("group %d does not divide channels %d and filters %d", group, x[1], w[0])
	}
	if w[1] != x[1]/group {
		return nil, fmt.Errorf("weight %v expects %d input channels per group, input has %d in %d groups", w, w[1], x[1], group)
	}
	if b != nil && (len(b) != 1 || b[0] != w[0]) {
		return nil, fmt.Errorf("bias shape %v, want [%d]", b, w[0])
	}
	return spatial(n, x, w[0], []int{w[2], w[3]}, false)
}

// spatial computes the output shape of a 2-D window operator (Conv, pooling).
func spatial(n *graph.Node, x []int, c int, k []int, ceil bool) ([]int, error) {
	strides := n.AttrInts("strides", []int64{1, 1})
	dil := n.AttrInts("dilations", []int64{1, 1})
	pads := n.AttrInts("pads", []int64{0, 0, 0, 0})
	if len(strides) != 2 || len(dil) != 2 || len(pads) != 4 {
		return nil, fmt.Errorf("strides %v, dilations %v, pads %v: want 2, 2 and 4 values", strides, dil, pads)
	}
	out := []int{x[0], c, 0, 0}
	autoPad := n.AttrString("auto_pad", "NOTSET")
	for i := 0; i < 2; i++ {
		s, d := int(strides[i]), int(dil[i])
		if s < 1 || d < 1 {
			return nil, fmt.Errorf("stride %d or dilation %d < 1", s, d)
		}
		ek := (k[i]-1)*d + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out[2+i] = (x[2+i] + s - 1) / s
			continue
		case "VALID":
			out[2+i] = (x[2+i]-ek)/s + 1
			continue
		}
		span := x[2+i] + int(pads[i]) + int(pads[i+2]) - ek
		if span < 0 {
			return nil, fmt.Errorf("window %d larger than padded input %d", ek, x[2+i]+int(pads[i])+int(pads[i+2]))
		}
		if ceil {
			out[2+i] = (span+s-1)/s + 1
		} else {
			out[2+i] = span/s + 1
		}
	}
	return out, nil
}

func reshapeShape(x []int, t *tensor.Tensor) ([]int, error) {
	out := make([]int, len(t.Data))
	infer := -1
	known := 1
	for i, v := range t.Data {
		d := int(v)
		switch {
		case d == 0 && i < len(x):
			d = x[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has two -1", t.Data)
			}
			infer = i
			out[i] = -1
			continue
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative dimension", t.Data)
		}
		out[i] = d
		known *= d
	}
	total := tensor.Size(x)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", x, t.Data)
		}
		out[infer] = total / known
	} else if known != total {
		// Batch 1 stands for the dynamic batch: a fixed first dimension larger than 1
		// is the exporter's static batch, which a pruned model keeps.
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x, total, t.Data)
	}
	return out, nil
}
