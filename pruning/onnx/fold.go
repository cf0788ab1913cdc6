package onnx

import (
	"strconv"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// foldReshapeShapes turns a constant Pad of zero padding into Identity, and rewrites the shape computation PyTorch exports for
// x.view(x.size(0), -1) — Concat of Unsqueeze(Gather(Shape(x), k)) and constants —
// into a constant Reshape shape, where the gathered dimension becomes 0 ("copy the
// input's dimension"), and drops the nodes this leaves unused. The engine has no
// Shape or Gather operators, and the folded graph means the same for every batch size.
func foldReshapeShapes(g *graph.Graph) {
	producer := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	constant := func(name string) *tensor.Tensor {
		if t, ok := g.Params[name]; ok {
			return t
		}
		if p := producer[name]; p != nil && p.Op == "Constant" {
			if a, ok := p.Attrs["value"]; ok && a.Kind == graph.AttrTensor {
				return a.Tensor
			}
		}
		return nil
	}
	// shapeDim matches Unsqueeze(Gather(Shape(x), k), axes=[0]) and returns k.
	shapeDim := func(name, x string) (int, bool) {
		u := producer[name]
		if u == nil || u.Op != "Unsqueeze" || len(u.Inputs) == 0 {
			return 0, false
		}
		axes := u.AttrInts("axes", nil)
		if len(u.Inputs) > 1 {
			if t := constant(u.Inputs[1]); t != nil {
				axes = []int64{}
				for _, v := range t.Data {
					axes = append(axes, int64(v))
				}
			}
		}
		if len(axes) != 1 || axes[0] != 0 {
			return 0, false
		}
		ga := producer[u.Inputs[0]]
		if ga == nil || ga.Op != "Gather" || len(ga.Inputs) != 2 || ga.AttrInt("axis", 0) != 0 {
			return 0, false
		}
		idx := constant(ga.Inputs[1])
		if idx == nil || idx.Len() != 1 || idx.Rank() != 0 {
			return 0, false
		}
		sh := producer[ga.Inputs[0]]
		if sh == nil || sh.Op != "Shape" || len(sh.Inputs) != 1 || sh.Inputs[0] != x {
			return 0, false
		}
		if _, ok := sh.Attrs["start"]; ok {
			return 0, false
		}
		if _, ok := sh.Attrs["end"]; ok {
			return 0, false
		}
		return int(idx.Data[0]), true
	}
	folded := false
	for _, n := range g.Nodes {
		if n.Op == "Pad" && len(n.Inputs) >= 2 && n.AttrString("mode", "constant") == "constant" {
			// PyTorch pads before AveragePool even when the padding is zero: the
			// identity, which the engine runs without a Pad operator.
			if pads := constant(n.Inputs[1]); pads != nil && allZero(pads.Data) {
				n.Op, n.Inputs, n.Attrs = "Identity", n.Inputs[:1], nil
				folded = true
			}
			continue
		}
		if n.Op != "Reshape" || len(n.Inputs) != 2 || n.AttrInt("allowzero", 0) != 0 {
			continue
		}
		c := producer[n.Inputs[1]]
		if c == nil || c.Op != "Concat" || c.AttrInt("axis", 0) != 0 {
			continue
		}
		var shape []float32
		ok := true
		for _, in := range c.Inputs {
			if t := constant(in); t != nil && t.Rank() <= 1 {
				shape = append(shape, t.Data...)
				continue
			}
			k, isDim := shapeDim(in, n.Inputs[0])
			if !isDim || k != len(shape) {
				ok = false
				break
			}
			shape = append(shape, 0)
		}
		if !ok {
			continue
		}
		name := n.Inputs[1] + "_folded"
		for k := 1; g.Params[name] != nil || producer[name] != nil; k++ {
			name = n.Inputs[1] + "_folded" + strconv.Itoa(k)
		}
		g.Params[name] = tensor.FromData(shape, len(shape))
		n.Inputs[1] = name
		folded = true
	}
	if folded {
		dropDeadShapeNodes(g)
	}
}

func allZero(d []float32) bool {
	for _, v := range d {
		if v != 0 {
			return false
		}
	}
	return true
}

// dropDeadShapeNodes removes shape-computation nodes (and Constants) whose outputs no
// node reads and no graph output names.
func dropDeadShapeNodes(g *graph.Graph) {
	removable := map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Concat": true, "Constant": true}
	for changed := true; changed; {
		changed = false
		used := map[string]bool{}
		for _, o := range g.Outputs {
			used[o.Name] = true
		}
		for _, n := range g.Nodes {
			for _, in := range n.Inputs {
				used[in] = true
			}
		}
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			dead := removable[n.Op]
			for _, o := range n.Outputs {
				if used[o] {
					dead = false
				}
			}
			if dead {
				changed = true
				continue
			}
			kept = append(kept, n)
		}
		g.Nodes = kept
	}
}
