package prune

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Masks holds, per weight parameter, which elements are kept (true) by unstructured
// pruning. While fine-tuning, Apply after every optimizer step keeps pruned weights at
// zero; Fold writes the zeros into a graph for export, after which the masks are no
// longer needed since the ONNX written is standard.
type Masks map[string][]bool

// Apply zeroes every masked-out weight of g. It panics if a mask's length differs from
// its parameter's, which means the masks belong to another graph.
func (m Masks) Apply(g *graph.Graph) {
	for name, keep := range m {
		t := g.Params[name]
		if t == nil || t.Len() != len(keep) {
			panic(fmt.Sprintf("prune: masks: parameter %q does not fit its mask of %d", name, len(keep)))
		}
		for i, k := range keep {
			if !k {
				t.Data[i] = 0
			}
		}
	}
}

// ZeroGrads zeroes the gradients of masked-out weights, so that optimizer state
// (momentum) never pushes them away from zero. Missing gradients are skipped.
func (m Masks) ZeroGrads(grads map[string]*tensor.Tensor) {
	for name, keep := range m {
		t := grads[name]
		if t == nil || t.Len() != len(keep) {
			continue
		}
		for i, k := range keep {
			if !k {
				t.Data[i] = 0
			}
		}
	}
}

// Fold returns a copy of g with the masks applied: a standard dense graph whose pruned
// weights are zero.
func (m Masks) Fold(g *graph.Graph) *graph.Graph {
	c := g.Clone()
	m.Apply(c)
	return c
}

// Sparsity is the fraction of masked-out elements over all masked parameters.
func (m Masks) Sparsity() float64 {
	var total, zero int
	for _, keep := range m {
		total += len(keep)
		for _, k := range keep {
			if !k {
				zero++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(zero) / float64(total)
}

// LayerSparsity is the fraction of masked-out elements of one parameter.
func (m Masks) LayerSparsity(name string) float64 {
	keep := m[name]
	if len(keep) == 0 {
		return 0
	}
	zero := 0
	for _, k := range keep {
		if !k {
			zero++
		}
	}
	return float64(zero) / float64(len(keep))
}

// WeightLayer is one parameter that unstructured pruning may sparsify: the weight of a
// Conv, Gemm or MatMul.
type WeightLayer struct {
	Node  string // the node that reads the weight
	Param string
	Size  int
}

// WeightLayers lists g's prunable weights in graph order. Biases and normalization
// parameters stay dense: they are few and pruning them gains nothing.
func WeightLayers(g *graph.Graph) []WeightLayer {
	var out []WeightLayer
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Op != "Conv" && n.Op != "Gemm" && n.Op != "MatMul" || len(n.Inputs) < 2 {
			continue
		}
		p := n.Inputs[1]
		t, ok := g.Params[p]
		if !ok || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, WeightLayer{Node: n.Name, Param: p, Size: t.Len()})
	}
	return out
}
