package graph

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// PyTorch exports x.view(x.size(0), -1) with a dynamic batch as a chain that computes
// Reshape's target shape at run time: Shape → Gather → Unsqueeze → Concat (with
// Constant or initializer pieces, sometimes Cast) → Reshape. The engine runs float
// tensors only, so FoldShapes rewrites such a chain into a Reshape with a constant
// shape, using ONNX Reshape's 0 ("copy this dimension of the input") for dimensions
// taken from the reshaped tensor itself.

// shapeChainOps are the operators FoldShapes evaluates symbolically.
var shapeChainOps = map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Concat": true, "Cast": true, "Constant": true, "Squeeze": true}

// symDim is one element of a symbolically evaluated shape vector: a known integer, or
// dimension dim of value of.
type symDim struct {
	known bool
	v     int
	of    string
	dim   int
}

// FoldShapes rewrites every Reshape whose shape input is computed by a shape chain
// (Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Constant) into a Reshape with a
// constant shape parameter, when each element of that shape is a constant or the
// same-position dimension of the reshaped tensor, and removes the shape-chain nodes
// left without readers. It returns the number of Reshape nodes rewritten. A chain it
// cannot fold is left as it is (Compile then names the unsupported operator).
func FoldShapes(g *Graph) (int, error) {
	producer := map[string]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	rewritten := 0
	for _, n := range g.Nodes {
		if n.Op != "Reshape" || len(n.Inputs) != 2 {
			continue
		}
		if _, ok := g.Params[n.Inputs[1]]; ok {
			continue
		}
		p := producer[n.Inputs[1]]
		if p == nil || p.Op == "Constant" || !shapeChainOps[p.Op] {
			continue
		}
		dims, ok := evalShape(g, producer, n.Inputs[1], 0)
		if !ok {
			continue
		}
		target := make([]float32, len(dims))
		for i, d := range dims {
			switch {
			case d.known:
				target[i] = float32(d.v)
			case d.of == n.Inputs[0] && d.dim == i && n.AttrInt("allowzero", 0) == 0:
				target[i] = 0
			default:
				ok = false
			}
		}
		if !ok {
			continue
		}
		name := uniqueName(g, n.Name+".shape")
		g.Params[name] = tensor.FromData(target, len(target))
		n.Inputs[1] = name
		rewritten++
	}
	if rewritten > 0 {
		removeDeadShapeNodes(g)
	}
	return rewritten, g.Validate()
}

func uniqueName(g *Graph, base string) string {
	name := base
	for i := 1; ; i++ {
		if _, taken := g.Params[name]; !taken && g.Producer(name) == nil {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}

// constInts returns the integer values of a parameter or Constant output.
func constInts(g *Graph, producer map[string]*Node, name string) ([]int, bool) {
	t := g.Params[name]
	if t == nil {
		if p := producer[name]; p != nil && p.Op == "Constant" {
			v, err := constantValue(p)
			if err != nil {
				return nil, false
			}
			t = v
		}
	}
	if t == nil {
		return nil, false
	}
	out := make([]int, t.Len())
	for i, v := range t.Data {
		if v != float32(int(v)) {
			return nil, false
		}
		out[i] = int(v)
	}
	return out, true
}

// evalShape evaluates value name as a vector of symbolic dimensions. A scalar is a
// one-element vector.
func evalShape(g *Graph, producer map[string]*Node, name string, depth int) ([]symDim, bool) {
	if depth > 32 {
		return nil, false
	}
	if ints, ok := constInts(g, producer, name); ok {
		out := make([]symDim, len(ints))
		for i, v := range ints {
			out[i] = symDim{known: true, v: v}
		}
		return out, true
	}
	n := producer[name]
	if n == nil {
		return nil, false
	}
	switch n.Op {
	case "Shape":
		// Only the leading dimensions that Gather asks for are needed; without the
		// rank, expose up to 8 and let Gather index them.
		if n.AttrInt("start", 0) != 0 || len(n.Inputs) != 1 {
			return nil, false
		}
		if _, ok := n.Attrs["end"]; ok {
			return nil, false
		}
		out := make([]symDim, 8)
		for i := range out {
			out[i] = symDim{of: n.Inputs[0], dim: i}
		}
		return out, true
	case "Gather":
		if len(n.Inputs) != 2 || n.AttrInt("axis", 0) != 0 {
			return nil, false
		}
		data, ok := evalShape(g, producer, n.Inputs[0], depth+1)
		if !ok {
			return nil, false
		}
		idx, ok := constInts(g, producer, n.Inputs[1])
		if !ok {
			return nil, false
		}
		out := make([]symDim, len(idx))
		for i, j := range idx {
			if j < 0 || j >= len(data) {
				return nil, false // a negative index needs the rank
			}
			out[i] = data[j]
		}
		return out, true
	case "Unsqueeze", "Squeeze", "Cast":
		// On shape vectors these only change rank between a scalar and a 1-vector.
		if len(n.Inputs) < 1 {
			return nil, false
		}
		v, ok := evalShape(g, producer, n.Inputs[0], depth+1)
		if !ok || (n.Op != "Cast" && len(v) != 1) {
			return nil, false
		}
		return v, true
	case "Concat":
		if n.AttrInt("axis", 0) != 0 && n.AttrInt("axis", 0) != -1 {
			return nil, false
		}
		var out []symDim
		for _, in := range n.Inputs {
			v, ok := evalShape(g, producer, in, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, v...)
		}
		return out, true
	}
	return nil, false
}

// removeDeadShapeNodes drops shape-chain nodes whose outputs nobody reads, repeatedly,
// and the parameters only they read.
func removeDeadShapeNodes(g *Graph) {
	removedInputs := map[string]bool{}
	for changed := true; changed; {
		changed = false
		read := readValues(g)
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			dead := shapeChainOps[n.Op]
			for _, o := range n.Outputs {
				if read[o] {
					dead = false
				}
			}
			if dead {
				changed = true
				for _, in := range n.Inputs {
					removedInputs[in] = true
				}
				continue
			}
			kept = append(kept, n)
		}
		g.Nodes = kept
	}
	read := readValues(g)
	for name := range removedInputs {
		if _, ok := g.Params[name]; ok && !read[name] {
			delete(g.Params, name)
		}
	}
}

// readValues is the set of values some node reads or the graph outputs.
func readValues(g *Graph) map[string]bool {
	read := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			read[in] = true
		}
	}
	for _, o := range g.Outputs {
		read[o.Name] = true
	}
	return read
}
