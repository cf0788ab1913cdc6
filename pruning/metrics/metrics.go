// Package metrics measures a model graph per node and in total: parameters, nonzero
// parameters, multiply-accumulates per sample, and bytes stored dense or as CSR.
package metrics

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

// Layer is what one node costs. Params count the trainable parameter elements the node
// reads (see graph.Graph.Trainable); bytes count every parameter it reads, including
// statistics such as BatchNormalization's running mean and variance. A parameter read
// by several nodes is counted at its first reader only.
type Layer struct {
	Name        string
	Op          string
	OutputShape []int // for a batch of one
	Params      int64
	NonZero     int64
	// MACs per sample: Conv, Gemm and MatMul count multiply-accumulates,
	// BatchNormalization one per output element, other operators zero.
	MACs int64
	// NonZeroMACs scales a weighted operator's MACs by its weight density: the work
	// left when zero weights are skipped.
	NonZeroMACs int64
	// DenseBytes stores the parameters as float32; SparseBytes as CSR (float32 values,
	// int32 column indices, int32 row pointers over the first dimension) for tensors of
	// rank 2 and more, dense for the rest.
	DenseBytes  int64
	SparseBytes int64
}

// Report is the per-node table of a graph and its totals.
type Report struct {
	Layers []Layer
	// Total sums the layers, plus any parameter no node reads (in Params and bytes).
	Total Layer
}

// Sparsity is the share of zero trainable parameters, in [0, 1].
func (r *Report) Sparsity() float64 {
	if r.Total.Params == 0 {
		return 0
	}
	return 1 - float64(r.Total.NonZero)/float64(r.Total.Params)
}

// Measure computes the report of g for one sample. It fails when the graph does not
// compile (shape inference needs a runnable graph).
func Measure(g *graph.Graph) (*Report, error) {
	shapes, err := graph.InferShapes(g, 1)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	r := &Report{Total: Layer{Name: "total"}}
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		l := Layer{Name: n.Name, Op: n.Op}
		if len(n.Outputs) > 0 {
			l.OutputShape = append([]int(nil), shapes[n.Outputs[0]]...)
		}
		for _, in := range n.Inputs {
			t, ok := g.Params[in]
			if !ok || seen[in] {
				continue
			}
			seen[in] = true
			addParam(&l, g.Trainable(in), t.Shape, t.Data)
		}
		l.MACs = macs(n, shapes, l.OutputShape)
		l.NonZeroMACs = l.MACs
		if w := weightOf(n); w != "" {
			if t, ok := g.Params[w]; ok && t.Len() > 0 {
				l.NonZeroMACs = int64(float64(l.MACs) * float64(countNonZero(t.Data)) / float64(t.Len()))
			}
		}
		r.Layers = append(r.Layers, l)
		r.Total.add(l)
	}
	for name, t := range g.Params {
		if !seen[name] {
			var l Layer
			addParam(&l, g.Trainable(name), t.Shape, t.Data)
			r.Total.add(l)
		}
	}
	return r, nil
}

func (t *Layer) add(l Layer) {
	t.Params += l.Params
	t.NonZero += l.NonZero
	t.MACs += l.MACs
	t.NonZeroMACs += l.NonZeroMACs
	t.DenseBytes += l.DenseBytes
	t.SparseBytes += l.SparseBytes
}

func addParam(l *Layer, trainable bool, shape []int, data []float32) {
	nnz := countNonZero(data)
	if trainable {
		l.Params += int64(len(data))
		l.NonZero += nnz
	}
	l.DenseBytes += 4 * int64(len(data))
	l.SparseBytes += CSRBytes(shape, nnz)
}

// CSRBytes estimates the bytes of a tensor with nnz nonzeros stored as CSR over its
// first dimension: 4 bytes per value, 4 per column index, 4 per row pointer. Tensors
// of rank below 2 are counted dense.
func CSRBytes(shape []int, nnz int64) int64 {
	size := int64(1)
	for _, d := range shape {
		size *= int64(d)
	}
	if len(shape) < 2 {
		return 4 * size
	}
	return 8*nnz + 4*(int64(shape[0])+1)
}

func countNonZero(d []float32) int64 {
	var n int64
	for _, v := range d {
		if v != 0 {
			n++
		}
	}
	return n
}

// weightOf names the weight input of a weighted operator.
func weightOf(n *graph.Node) string {
	switch n.Op {
	case "Conv", "Gemm", "MatMul":
		if len(n.Inputs) > 1 {
			return n.Inputs[1]
		}
	}
	return ""
}

func numel(s []int) int64 {
	p := int64(1)
	for _, d := range s {
		p *= int64(d)
	}
	return p
}

// macs counts the multiply-accumulates of one node for a batch of one.
func macs(n *graph.Node, shapes map[string][]int, out []int) int64 {
	in := func(i int) []int {
		if i < len(n.Inputs) {
			return shapes[n.Inputs[i]]
		}
		return nil
	}
	switch n.Op {
	case "Conv":
		if w := in(1); len(w) > 1 {
			return numel(out) * numel(w[1:])
		}
	case "Gemm":
		if a := in(0); len(a) == 2 {
			k := a[1]
			if n.AttrInt("transA", 0) != 0 {
				k = a[0]
			}
			return numel(out) * int64(k)
		}
	case "MatMul":
		if a := in(0); len(a) > 0 {
			return numel(out) * int64(a[len(a)-1])
		}
	case "BatchNormalization":
		return numel(out)
	}
	return 0
}
