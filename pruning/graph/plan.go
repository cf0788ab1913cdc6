package graph

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// plan is everything shaped by one set of input shapes.
type plan struct {
	inShapes [][]int
	shapes   [][]int
	vals     []*tensor.Tensor
	grads    []*tensor.Tensor
	ops      []op
	// scratch slices per node, reused across runs to avoid allocation
	inT, outT, gInT, gOutT [][]*tensor.Tensor
	// Backward's first writer of a value's gradient overwrites it when its op can
	// (over[k][j]: node k, input j), and Backward then does not clear that gradient
	// first (noClear[v]).
	over    [][]bool
	noClear []bool
	// inputUses and paramUses are where nodes read graph inputs and parameters (node,
	// input position), which bind sets at each run; the other inputs are set once.
	// paramsBound: the parameters are bound for good (WithConstantWeights, inference).
	inputUses, paramUses [][2]int
	paramsBound          bool
	// inputViews are the values that view a graph input's data (Flatten, Reshape or
	// Identity of it, inference only): value, input.
	inputViews [][2]int
	// sharing is what Executor.pickSharing found for this plan: untimed, or whether
	// its convolutions share their kernels with the helpers or run them alone.
	sharing   shareChoice
	shareRuns int // the runs pickSharing timed
}

// buildPlan instantiates ops, infers every shape and allocates every buffer for one set
// of input shapes.
func (e *Executor) buildPlan(inShapes [][]int) (*plan, error) {
	p, err := e.inferPlan(inShapes)
	if err != nil {
		return nil, err
	}
	if bad := e.checkResidualShapes(p); len(bad) > 0 {
		// Compile checked batch sizes 1 and 2; shapes that agree there and not here
		// would take a graph whose shapes do not scale with the batch.
		return nil, fmt.Errorf("graph %q: node %q (Add): operand shapes %v and %v differ at this batch size, but agreed when the executor fused the Add; run this batch size without fusion (WithTraining)",
			e.g.Name, e.nodes[bad[0]].node.Name, p.shapes[e.nodes[bad[0]].in[0]], p.shapes[e.nodes[bad[0]].in[1]])
	}
	e.allocPlan(p)
	return p, nil
}

// inferPlan instantiates ops and infers every shape, allocating no activation.
func (e *Executor) inferPlan(inShapes [][]int) (*plan, error) {
	p := &plan{inShapes: inShapes, shapes: make([][]int, len(e.names)), vals: make([]*tensor.Tensor, len(e.names))}
	for i, v := range e.inputs {
		p.shapes[v] = inShapes[i]
	}
	for i, name := range e.names {
		if e.isParam[i] {
			t := e.g.Params[name]
			if err := checkShape(t.Shape); err != nil {
				return nil, fmt.Errorf("graph %q: parameter %q: %w", e.g.Name, name, err)
			}
			if t.Len() != tensor.Size(t.Shape) {
				return nil, fmt.Errorf("graph %q: parameter %q: %d values for shape %v", e.g.Name, name, t.Len(), t.Shape)
			}
			p.shapes[i] = append([]int(nil), t.Shape...)
		}
	}
	c := &opCtx{opset: e.g.Opset, constant: e.constant}
	for _, cn := range e.nodes {
		n := cn.node
		o, err := cn.factory(n, c)
		if err != nil {
			return nil, fmt.Errorf("graph: node %q (%s): %w", n.Name, n.Op, err)
		}
		in := make([][]int, len(cn.in))
		for j, v := range cn.in {
			if v >= 0 {
				in[j] = p.shapes[v]
			}
		}
		outs, err := o.infer(in)
		if err != nil {
			return nil, fmt.Errorf("graph: node %q (%s): input shapes %v: %w", n.Name, n.Op, in, err)
		}
		if len(outs) < len(cn.out) {
			return nil, fmt.Errorf("graph: node %q (%s): %d outputs requested, operator makes %d", n.Name, n.Op, len(cn.out), len(outs))
		}
		for _, s := range outs {
			if err := checkShape(s); err != nil {
				return nil, fmt.Errorf("graph: node %q (%s): input shapes %v: output %w", n.Name, n.Op, in, err)
			}
		}
		for j, v := range cn.out {
			p.shapes[v] = outs[j]
			if t, ok := e.constants[v]; ok {
				p.vals[v] = t
			}
		}
		if f := e.sparse[len(p.ops)]; f != nil {
			o.(sparseCapable).setSparse(f)
		}
		if ep := e.epilogues[len(p.ops)]; ep != nil {
			o.(fusable).setEpilogue(ep)
		}
		p.ops = append(p.ops, o)
	}
	e.planHandoffs(p)
	return p, nil
}

// allocPlan gives a plan its activation (and, when training, gradient) buffers and
// the per-node tensor lists the run loop uses.
func (e *Executor) allocPlan(p *plan) {
	if !e.cfg.training {
		e.allocShared(p)
	} else {
		for _, cn := range e.nodes {
			for _, v := range cn.out {
				if _, ok := e.constants[v]; !ok {
					p.vals[v] = tensor.New(p.shapes[v]...)
				}
			}
		}
		p.grads = make([]*tensor.Tensor, len(e.names))
		for i, name := range e.names {
			switch {
			case e.trainable[i]:
				p.grads[i] = e.grads[name]
			case e.needGrad[i]:
				p.grads[i] = tensor.New(p.shapes[i]...)
			}
		}
	}
	if p.grads != nil {
		e.planOverwrites(p)
	}
	for j, fused := range e.reluInBN {
		if fused {
			bn := e.nodes[j].in[0]
			for k, cn := range e.nodes {
				if len(cn.out) > 0 && cn.out[0] == bn {
					p.ops[k].(*batchNormOp).reluOut = p.vals[e.nodes[j].out[0]]
				}
			}
		}
	}
	nn := len(e.nodes)
	p.inT, p.outT, p.gInT, p.gOutT = make([][]*tensor.Tensor, nn), make([][]*tensor.Tensor, nn), make([][]*tensor.Tensor, nn), make([][]*tensor.Tensor, nn)
	for k, cn := range e.nodes {
		p.inT[k] = make([]*tensor.Tensor, len(cn.in))
		p.gInT[k] = make([]*tensor.Tensor, len(cn.in))
		for j, v := range cn.in {
			if v >= 0 && p.grads != nil {
				p.gInT[k][j] = p.grads[v]
			}
		}
		for j, v := range cn.in {
			switch {
			case v < 0:
			case e.isParam[v]:
				p.paramUses = append(p.paramUses, [2]int{k, j})
			case e.isInput(v):
				p.inputUses = append(p.inputUses, [2]int{k, j})
			default:
				p.inT[k][j] = p.vals[v]
			}
		}
		p.outT[k] = make([]*tensor.Tensor, len(cn.out))
		p.gOutT[k] = make([]*tensor.Tensor, len(cn.out))
		for j, v := range cn.out {
			p.outT[k][j] = p.vals[v]
			if p.grads != nil {
				p.gOutT[k][j] = p.grads[v]
			}
		}
	}
}

// gradOverwriter is an op whose backward can write the gradient of its input i
// outright instead of adding into it, covering all of it.
type gradOverwriter interface {
	overwrites(i int) bool
}

// planOverwrites finds, for each activation gradient, the node that writes it first in
// Backward (the last reader in graph order); when that node reads the value once and
// its op can overwrite the gradient, Backward skips clearing it. Parameter gradients,
// graph outputs (Backward copies their gradients in) and values read twice by their
// first writer are always cleared.
func (e *Executor) planOverwrites(p *plan) {
	p.over = make([][]bool, len(e.nodes))
	p.noClear = make([]bool, len(e.names))
	isOutput := make([]bool, len(e.names))
	for _, v := range e.outputs {
		isOutput[v] = true
	}
	seen := make([]bool, len(e.names))
	for k := len(e.nodes) - 1; k >= 0; k-- {
		cn := e.nodes[k]
		if !cn.backOK {
			continue
		}
		ow, _ := p.ops[k].(gradOverwriter)
		for j, v := range cn.in {
			if v < 0 || seen[v] || p.grads[v] == nil {
				continue
			}
			seen[v] = true
			if ow == nil || !ow.overwrites(j) || e.trainable[v] || isOutput[v] {
				continue
			}
			once := true
			for j2, u := range cn.in {
				once = once && (j2 == j || u != v)
			}
			if !once {
				continue
			}
			if p.over[k] == nil {
				p.over[k] = make([]bool, len(cn.in))
			}
			p.over[k][j], p.noClear[v] = true, true
		}
	}
}

// maxValueElements bounds every tensor a plan allocates (4 GiB of float32), so that a
// hostile model cannot ask for unbounded memory.
const maxValueElements = 1 << 30

// checkShape rejects empty or negative dimensions and oversized tensors.
func checkShape(s []int) error {
	n := 1
	for _, d := range s {
		if d < 1 {
			return fmt.Errorf("shape %v has an empty or negative dimension", s)
		}
		if n > maxValueElements/d {
			return fmt.Errorf("shape %v exceeds %d elements", s, maxValueElements)
		}
		n *= d
	}
	return nil
}

// planFor validates the inputs and returns the plan for their shapes.
func (e *Executor) planFor(inputs map[string]*tensor.Tensor) (*plan, error) {
	if p := e.recent; p != nil {
		// Inputs shaped as in the latest run (the shapes were validated then).
		same := true
		for i, v := range e.inputs {
			t := inputs[e.names[v]]
			if t == nil || !tensor.SameShape(t.Shape, p.inShapes[i]) || t.Len() != tensor.Size(t.Shape) {
				same = false
				break
			}
		}
		if same {
			return p, nil
		}
	}
	p, err := e.planForShapes(inputs)
	if err == nil {
		e.recent = p
	}
	return p, err
}

// planForShapes validates the inputs and returns the plan for their shapes, cached or
// built.
func (e *Executor) planForShapes(inputs map[string]*tensor.Tensor) (*plan, error) {
	var key uint64 = 14695981039346656037
	for i, v := range e.inputs {
		name := e.names[v]
		t, ok := inputs[name]
		if !ok || t == nil {
			return nil, fmt.Errorf("graph %q: input %q missing", e.g.Name, name)
		}
		if t.Len() != tensor.Size(t.Shape) {
			return nil, fmt.Errorf("graph %q: input %q: %d values for shape %v", e.g.Name, name, t.Len(), t.Shape)
		}
		want := e.g.Inputs[e.inputPos(v)].Shape
		if len(t.Shape) != len(want) {
			return nil, fmt.Errorf("graph %q: input %q: got shape %v, want rank %d %v", e.g.Name, name, t.Shape, len(want), want)
		}
		for d, w := range want {
			// Dimension 0 is the batch: any size is accepted.
			if d > 0 && w >= 0 && t.Shape[d] != w {
				return nil, fmt.Errorf("graph %q: input %q: got shape %v, want %v", e.g.Name, name, t.Shape, want)
			}
			if t.Shape[d] < 1 {
				return nil, fmt.Errorf("graph %q: input %q: got shape %v with an empty dimension", e.g.Name, name, t.Shape)
			}
		}
		for _, d := range t.Shape {
			key = (key ^ uint64(d)) * 1099511628211
		}
		key = (key ^ uint64(i+1)<<32) * 1099511628211
	}
	if p, ok := e.plans[key]; ok && p.matches(e, inputs) {
		return p, nil
	}
	shapes := make([][]int, len(e.inputs))
	for i, v := range e.inputs {
		shapes[i] = append([]int(nil), inputs[e.names[v]].Shape...)
	}
	p, err := e.buildPlan(shapes)
	if err != nil {
		return nil, err
	}
	limit := maxPlans
	if e.cfg.training {
		// Training plans hold every activation and its gradient: keep few.
		limit = maxTrainingPlans
	}
	if len(e.plans) >= limit {
		clear(e.plans)
		e.last, e.recent = nil, nil
	}
	e.plans[key] = p
	if e.sparseReady && len(p.inShapes) > 0 && len(p.inShapes[0]) > 0 && p.inShapes[0][0] != e.sparseAt {
		if err := e.chooseSparsePlan(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *plan) matches(e *Executor, inputs map[string]*tensor.Tensor) bool {
	for i, v := range e.inputs {
		if !tensor.SameShape(p.inShapes[i], inputs[e.names[v]].Shape) {
			return false
		}
	}
	return true
}

// bind points the plan at this run's inputs and the graph's current parameters.
func (e *Executor) bind(p *plan, inputs map[string]*tensor.Tensor) error {
	for _, v := range e.inputs {
		p.vals[v] = inputs[e.names[v]]
	}
	for _, u := range p.inputViews {
		p.vals[u[0]].Data = p.vals[u[1]].Data[:tensor.Size(p.shapes[u[0]])]
	}
	for _, u := range p.inputUses {
		p.inT[u[0]][u[1]] = p.vals[e.nodes[u[0]].in[u[1]]]
	}
	if p.paramsBound {
		return nil
	}
	for i, name := range e.names {
		if !e.isParam[i] {
			continue
		}
		t := e.g.Params[name]
		if t == nil || !tensor.SameShape(t.Shape, p.shapes[i]) || t.Len() != tensor.Size(t.Shape) {
			return fmt.Errorf("graph %q: parameter %q changed shape since Compile; compile again", e.g.Name, name)
		}
		p.vals[i] = t
	}
	for _, u := range p.paramUses {
		p.inT[u[0]][u[1]] = p.vals[e.nodes[u[0]].in[u[1]]]
	}
	// With WithConstantWeights the caller promised parameters that do not change:
	// later runs rebind only the inputs.
	p.paramsBound = e.cfg.constant && !e.cfg.training
	return nil
}
