package onnx

import (
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// foldOnlyOps are operators the engine runs only by folding them away at read time
// (graph.FoldShapes); any left after folding make the model unsupported.
var foldOnlyOps = map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Cast": true}

// foldExport rewrites what PyTorch exports around supported operators into them:
// Reshape shapes computed by Shape/Gather/Unsqueeze/Concat chains (x.view(x.size(0),
// -1)) become constants (graph.FoldShapes), and a constant-mode Pad of zero padding,
// which PyTorch puts before AveragePool, becomes Identity. g must validate.
func foldExport(g *graph.Graph) error {
	constant := func(name string) *tensor.Tensor {
		if t, ok := g.Params[name]; ok {
			return t
		}
		if p := g.Producer(name); p != nil && p.Op == "Constant" {
			if a, ok := p.Attrs["value"]; ok && a.Kind == graph.AttrTensor {
				return a.Tensor
			}
		}
		return nil
	}
	padded := false
	for _, n := range g.Nodes {
		if n.Op != "Pad" || len(n.Inputs) < 2 || n.AttrString("mode", "constant") != "constant" {
			continue
		}
		if pads := constant(n.Inputs[1]); pads != nil && allZero(pads.Data) {
			n.Op, n.Inputs, n.Attrs = "Identity", n.Inputs[:1], nil
			padded = true
		}
	}
	if padded {
		dropUnreadConstants(g)
	}
	_, err := graph.FoldShapes(g)
	return err
}

func allZero(d []float32) bool {
	for _, v := range d {
		if v != 0 {
			return false
		}
	}
	return true
}

// dropUnreadConstants removes Constant nodes whose output nothing reads.
func dropUnreadConstants(g *graph.Graph) {
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
		if n.Op == "Constant" && len(n.Outputs) == 1 && !used[n.Outputs[0]] {
			continue
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
}
