package graph

import (
	"math"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// An inference-only executor fuses the per-channel work that follows a Conv or Gemm
// into that node's output loop, while the output is still in cache: an inference-mode
// BatchNormalization (y·a + b per channel) after a Conv, then a residual Add of a
// value computed earlier (a ResNet block's shortcut) after a Conv, and a Relu after
// either. The absorbed nodes are skipped at run time (their outputs alias the
// producer's) and report zero time in timing mode, their cost included in the
// producer's.

// epilogue is the fused per-channel work of one producer.
type epilogue struct {
	bn           int // node index of the absorbed BatchNormalization, or -1
	add          int // node index of the absorbed residual Add, or -1
	addOther     int // which input of the Add is the residual (the other is the chain)
	relu         int // node index of the absorbed Relu, or -1
	scale, shift []float32
	eps          float32
	residual     []float32 // this run's residual operand (set before the producer runs)
	// folded: scale and shift hold the BatchNormalization's constant parameters
	// (WithConstantWeights), so runs skip refresh.
	folded bool
}

// fusable is an op that can apply an epilogue to its output.
type fusable interface {
	setEpilogue(ep *epilogue)
}

// planFusion finds the fusable chains of an inference-only executor.
func (e *Executor) planFusion() {
	e.epilogues = make([]*epilogue, len(e.nodes))
	e.absorbed = make([]bool, len(e.nodes))
	e.chainIn = make([]int, len(e.nodes))
	e.reluInBN = make([]bool, len(e.nodes))
	readers := make([][]int, len(e.names))
	for k, cn := range e.nodes {
		for _, v := range cn.in {
			if v >= 0 {
				readers[v] = append(readers[v], k)
			}
		}
	}
	isOutput := make([]bool, len(e.names))
	for _, v := range e.outputs {
		isOutput[v] = true
	}
	// soleReader returns the one node reading v as its input 0, if v is no graph output.
	soleReader := func(v int, op string) int {
		if isOutput[v] || len(readers[v]) != 1 {
			return -1
		}
		j := readers[v][0]
		cn := e.nodes[j]
		if cn.node.Op != op || cn.in[0] != v || len(cn.out) != 1 {
			return -1
		}
		for _, u := range cn.in[1:] {
			if u == v {
				return -1
			}
		}
		return j
	}
	if e.cfg.training {
		// Training keeps every activation, so nothing is absorbed; but a Relu that is
		// a BatchNormalization's only reader is computed by it, into the Relu's output
		// (Relu's backward needs only that output, and nothing reads the
		// BatchNormalization's own).
		for _, cn := range e.nodes {
			if cn.node.Op != "BatchNormalization" || len(cn.out) != 1 {
				continue
			}
			if j := soleReader(cn.out[0], "Relu"); j >= 0 {
				e.reluInBN[j] = true
			}
		}
		return
	}
	producer := make([]int, len(e.names))
	for i := range producer {
		producer[i] = -1
	}
	for k, cn := range e.nodes {
		for _, v := range cn.out {
			producer[v] = k
		}
	}
	// residualAdd returns the one Add reading v, as either input, whose other input
	// is computed before node k runs (by an earlier node or as a graph input), and
	// which input that is.
	residualAdd := func(v, k int) (j, other int) {
		if isOutput[v] || len(readers[v]) != 1 {
			return -1, 0
		}
		j = readers[v][0]
		cn := e.nodes[j]
		if cn.node.Op != "Add" || len(cn.in) != 2 || len(cn.out) != 1 || cn.in[0] == cn.in[1] {
			return -1, 0
		}
		other = 0
		if cn.in[0] == v {
			other = 1
		}
		u := cn.in[other]
		if u < 0 || e.isParam[u] || e.constants[u] != nil || producer[u] >= k || (producer[u] < 0 && !e.isInput(u)) {
			return -1, 0
		}
		return j, other
	}
	for k, cn := range e.nodes {
		op := cn.node.Op
		if (op != "Conv" && op != "Gemm") || len(cn.out) != 1 {
			continue
		}
		ep := &epilogue{bn: -1, add: -1, relu: -1}
		v := cn.out[0]
		if op == "Conv" {
			if j := soleReader(v, "BatchNormalization"); j >= 0 && e.allParams(e.nodes[j].in[1:]) {
				ep.bn, ep.eps = j, e.nodes[j].node.AttrFloat("epsilon", 1e-5)
				v = e.nodes[j].out[0]
			}
			if j, other := residualAdd(v, k); j >= 0 && !e.noResidual[j] {
				ep.add, ep.addOther = j, other
				e.chainIn[j] = 1 - other
				v = e.nodes[j].out[0]
			}
		}
		if j := soleReader(v, "Relu"); j >= 0 {
			ep.relu = j
		}
		if ep.bn < 0 && ep.add < 0 && ep.relu < 0 {
			continue
		}
		e.epilogues[k] = ep
		for _, j := range []int{ep.bn, ep.add, ep.relu} {
			if j >= 0 {
				e.absorbed[j] = true
			}
		}
	}
}

// isInput reports whether value v is a graph input.
func (e *Executor) isInput(v int) bool {
	for _, in := range e.inputs {
		if in == v {
			return true
		}
	}
	return false
}

// checkResidualShapes reports the fused residual Adds whose operands differ in shape
// (a broadcasting Add) in plan p: those cannot run in the producer's output loop.
func (e *Executor) checkResidualShapes(p *plan) (bad []int) {
	for _, ep := range e.epilogues {
		if ep == nil || ep.add < 0 {
			continue
		}
		in := e.nodes[ep.add].in
		if !tensor.SameShape(p.shapes[in[0]], p.shapes[in[1]]) {
			bad = append(bad, ep.add)
		}
	}
	return bad
}

func (e *Executor) allParams(vs []int) bool {
	for _, v := range vs {
		if v < 0 || !e.isParam[v] {
			return false
		}
	}
	return true
}

// refresh recomputes the fused BatchNormalization's per-channel affine from its
// current parameters (scale, B, mean, var), so that in-place weight updates are seen.
func (ep *epilogue) refresh(bnIn []*tensor.Tensor) {
	if ep.bn < 0 {
		return
	}
	sc, b, mean, v := bnIn[1].Data, bnIn[2].Data, bnIn[3].Data, bnIn[4].Data
	if len(ep.scale) != len(sc) {
		ep.scale, ep.shift = make([]float32, len(sc)), make([]float32, len(sc))
	}
	for c := range sc {
		a := sc[c] * float32(1/math.Sqrt(float64(v[c])+float64(ep.eps)))
		ep.scale[c], ep.shift[c] = a, b[c]-mean[c]*a
	}
}

// applyRow runs the epilogue on one channel's row of outputs.
func (ep *epilogue) applyRow(c int, row []float32) {
	switch {
	case ep.bn >= 0 && ep.relu >= 0:
		a, b := ep.scale[c], ep.shift[c]
		for i, v := range row {
			row[i] = max(v*a+b, 0)
		}
	case ep.bn >= 0:
		a, b := ep.scale[c], ep.shift[c]
		for i, v := range row {
			row[i] = v*a + b
		}
	default:
		for i, v := range row {
			row[i] = max(v, 0)
		}
	}
}
