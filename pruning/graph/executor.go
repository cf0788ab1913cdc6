package graph

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// ErrNotTraining is returned by Forward and Backward on an executor compiled without
// WithTraining(true).
var ErrNotTraining = errors.New("graph: executor compiled without WithTraining(true)")

// ErrNoForward is returned by Backward when no training-mode Forward preceded it.
var ErrNoForward = errors.New("graph: Backward without a preceding Forward")

// maxPlans bounds the plans an executor caches (one per distinct input shape set);
// maxTrainingPlans does for executors compiled WithTraining.
const (
	maxPlans         = 8
	maxTrainingPlans = 2
)

// Executor runs a compiled graph. It reads the graph's parameters in place, so an
// optimizer or a pruner that writes into g.Params is seen by the next run; replacing a
// parameter with a tensor of another shape makes the next run fail until recompiled.
// An Executor is not safe for concurrent use.
type Executor struct {
	g   *Graph
	cfg execConfig

	names     []string       // value index → name
	index     map[string]int // name → value index
	isParam   []bool
	constants map[int]*tensor.Tensor // Constant node outputs, folded at Compile
	inputs    []int                  // value index of each graph input
	outputs   []int                  // value index of each graph output
	nodes     []compiledNode
	needGrad  []bool // per value: gradient flows to a trainable parameter
	trainable []bool // per value: a trainable parameter

	plans   map[uint64]*plan
	last    *plan // plan of the latest training-mode Forward, for Backward
	rng     *rand.Rand
	grads   map[string]*tensor.Tensor
	timings []NodeTiming
	sparse  []sparseForm // per node: CSR weight chosen at Compile (WithSparse)
	ws      workspace
	rs      runState

	epilogues []*epilogue // per producer node: fused BatchNormalization/Relu
	absorbed  []bool      // per node: fused into its producer, skipped at run time
}

type compiledNode struct {
	node    *Node
	in, out []int // value indices; -1 marks an omitted optional input
	factory opFactory
	backOK  bool // some input needs a gradient
}

// plan is everything shaped by one set of input shapes.
type plan struct {
	inShapes [][]int
	shapes   [][]int
	vals     []*tensor.Tensor
	grads    []*tensor.Tensor
	ops      []op
	// scratch slices per node, reused across runs to avoid allocation
	inT, outT, gInT, gOutT [][]*tensor.Tensor
}

// Compile validates g, checks that every operator is supported, infers shapes with a
// dynamic batch dimension and returns an executor. Errors name the node at fault, for
// example `graph: node "conv3" (LSTM): unsupported operator`. A graph holding
// PyTorch's run-time shape computation for x.view(x.size(0), -1) is first rewritten in
// place by FoldShapes.
func Compile(g *Graph, opts ...Option) (*Executor, error) {
	cfg := defaultExecConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if g == nil {
		return nil, errors.New("graph: compile: nil graph")
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	for _, n := range g.Nodes {
		if foldOnlyOps[n.Op] {
			if _, err := FoldShapes(g); err != nil {
				return nil, err
			}
			break
		}
	}
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("graph %q: no inputs", g.Name)
	}
	e := &Executor{g: g, cfg: cfg, index: map[string]int{}, constants: map[int]*tensor.Tensor{}, plans: map[uint64]*plan{}}
	e.rng = rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x5851f42d4c957f2d))
	add := func(name string, param bool) int {
		if i, ok := e.index[name]; ok {
			return i
		}
		e.index[name] = len(e.names)
		e.names = append(e.names, name)
		e.isParam = append(e.isParam, param)
		return len(e.names) - 1
	}
	for _, v := range g.Inputs {
		if _, ok := g.Params[v.Name]; ok {
			continue // ONNX < IR 4 lists initializers as inputs too
		}
		if len(v.Shape) == 0 {
			return nil, fmt.Errorf("graph %q: input %q has no shape", g.Name, v.Name)
		}
		e.inputs = append(e.inputs, add(v.Name, false))
	}
	if len(e.inputs) == 0 {
		return nil, fmt.Errorf("graph %q: every input is an initializer", g.Name)
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if _, ok := g.Params[in]; ok {
				add(in, true)
			}
		}
	}
	for _, n := range g.Nodes {
		f, ok := registry[n.Op]
		if !ok && foldOnlyOps[n.Op] {
			return nil, fmt.Errorf("graph: node %q (%s): supported only in a Reshape shape computation that folds to a constant (x.view(x.size(0), -1)); this one does not", n.Name, n.Op)
		}
		if !ok {
			return nil, fmt.Errorf("graph: node %q (%s): unsupported operator", n.Name, n.Op)
		}
		cn := compiledNode{node: n, factory: f}
		for _, in := range n.Inputs {
			if in == "" {
				cn.in = append(cn.in, -1)
				continue
			}
			cn.in = append(cn.in, e.index[in])
		}
		for _, o := range n.Outputs {
			cn.out = append(cn.out, add(o, false))
		}
		if n.Op == "Constant" {
			t, err := constantValue(n)
			if err != nil {
				return nil, fmt.Errorf("graph: node %q (%s): %w", n.Name, n.Op, err)
			}
			e.constants[cn.out[0]] = t
		}
		e.nodes = append(e.nodes, cn)
	}
	for _, o := range g.Outputs {
		e.outputs = append(e.outputs, e.index[o.Name])
	}
	e.trainable = make([]bool, len(e.names))
	e.needGrad = make([]bool, len(e.names))
	for i, name := range e.names {
		if e.isParam[i] && g.Trainable(name) {
			e.trainable[i], e.needGrad[i] = true, true
		}
	}
	for k := range e.nodes {
		cn := &e.nodes[k]
		for _, in := range cn.in {
			if in >= 0 && e.needGrad[in] {
				cn.backOK = true
			}
		}
		if cn.backOK {
			for _, o := range cn.out {
				e.needGrad[o] = true
			}
		}
	}
	if cfg.training {
		e.grads = map[string]*tensor.Tensor{}
		for i, name := range e.names {
			if e.trainable[i] {
				e.grads[name] = tensor.New(g.Params[name].Shape...)
			}
		}
	}
	e.timings = make([]NodeTiming, len(e.nodes))
	for k, cn := range e.nodes {
		e.timings[k] = NodeTiming{Node: cn.node.Name, Op: cn.node.Op}
	}
	e.sparse = make([]sparseForm, len(e.nodes))
	e.planFusion()
	// Shape check with two batch sizes so that errors surface at Compile.
	var first [][]int
	for _, b := range []int{1, 2} {
		shapes := make([][]int, len(e.inputs))
		for i, v := range e.inputs {
			shapes[i] = concreteShape(g.Inputs[e.inputPos(v)].Shape, b)
		}
		if _, err := e.buildPlan(shapes); err != nil {
			return nil, err
		}
		if first == nil {
			first = shapes
		}
	}
	if cfg.sparse {
		if err := e.chooseSparse(first); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *Executor) inputPos(v int) int {
	for i, in := range e.g.Inputs {
		if in.Name == e.names[v] {
			return i
		}
	}
	return -1
}

// concreteShape replaces dynamic dimensions by batch.
func concreteShape(s []int, batch int) []int {
	c := append([]int(nil), s...)
	for i, d := range c {
		if d < 0 {
			c[i] = batch
		}
	}
	return c
}

func (e *Executor) constant(name string) *tensor.Tensor {
	if t, ok := e.g.Params[name]; ok {
		return t
	}
	if i, ok := e.index[name]; ok {
		return e.constants[i]
	}
	return nil
}

// buildPlan instantiates ops, infers every shape and allocates every buffer for one set
// of input shapes.
func (e *Executor) buildPlan(inShapes [][]int) (*plan, error) {
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
			} else if e.cfg.training {
				p.vals[v] = tensor.New(outs[j]...)
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
	if !e.cfg.training {
		e.allocShared(p)
	}
	if e.cfg.training {
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
		p.outT[k] = make([]*tensor.Tensor, len(cn.out))
		p.gOutT[k] = make([]*tensor.Tensor, len(cn.out))
		for j, v := range cn.out {
			p.outT[k][j] = p.vals[v]
			if p.grads != nil {
				p.gOutT[k][j] = p.grads[v]
			}
		}
	}
	return p, nil
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
		e.last = nil
	}
	e.plans[key] = p
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
	for k, cn := range e.nodes {
		for j, v := range cn.in {
			if v >= 0 {
				p.inT[k][j] = p.vals[v]
			}
		}
	}
	return nil
}

func (e *Executor) forward(ctx context.Context, inputs map[string]*tensor.Tensor, training bool) (*plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("graph %q: run: %w", e.g.Name, err)
	}
	p, err := e.planFor(inputs)
	if err != nil {
		return nil, err
	}
	if err := e.bind(p, inputs); err != nil {
		return nil, err
	}
	r := &e.rs
	*r = runState{training: training, threads: e.cfg.threads, rng: e.rng, ws: &e.ws}
	timing := e.cfg.timing && !training
	for k := range e.nodes {
		if k&15 == 15 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("graph %q: run: %w", e.g.Name, err)
			}
		}
		if _, folded := e.constants[e.nodes[k].out[0]]; folded {
			continue
		}
		if e.absorbed[k] {
			if timing {
				e.timings[k].Calls++
			}
			continue
		}
		if ep := e.epilogues[k]; ep != nil && ep.bn >= 0 {
			ep.refresh(p.inT[ep.bn])
		}
		if timing {
			t0 := time.Now()
			p.ops[k].forward(r, p.inT[k], p.outT[k])
			e.timings[k].Total += time.Since(t0)
			e.timings[k].Calls++
			continue
		}
		p.ops[k].forward(r, p.inT[k], p.outT[k])
	}
	return p, nil
}

// Run computes the graph outputs in inference mode (BatchNormalization uses its running
// statistics, Dropout is the identity). Inputs are keyed by graph input name; dimension
// 0 is the batch and may take any size, the others must match the graph. The returned
// tensors are fresh copies owned by the caller.
func (e *Executor) Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	p, err := e.forward(ctx, inputs, false)
	if err != nil {
		return nil, err
	}
	return e.collect(p), nil
}

func (e *Executor) collect(p *plan) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(e.outputs))
	for _, v := range e.outputs {
		out[e.names[v]] = p.vals[v].Clone()
	}
	return out
}

// Forward computes the outputs in training mode (BatchNormalization uses and updates
// batch statistics, Dropout drops) and keeps the activations for Backward. The inputs
// must stay unchanged until Backward returns. It returns ErrNotTraining unless the
// executor was compiled WithTraining(true).
func (e *Executor) Forward(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if !e.cfg.training {
		return nil, ErrNotTraining
	}
	e.last = nil
	p, err := e.forward(ctx, inputs, true)
	if err != nil {
		return nil, err
	}
	e.last = p
	return e.collect(p), nil
}

// Backward back-propagates gradOut (the loss gradient with respect to graph outputs,
// keyed by output name; a missing output counts as zero) through the latest Forward and
// fills Grads. It returns ErrNoForward without a preceding Forward.
func (e *Executor) Backward(ctx context.Context, gradOut map[string]*tensor.Tensor) error {
	if !e.cfg.training {
		return ErrNotTraining
	}
	p := e.last
	if p == nil {
		return ErrNoForward
	}
	for _, g := range p.grads {
		if g != nil {
			clear(g.Data)
		}
	}
	for name, g := range gradOut {
		v, ok := e.index[name]
		isOut := false
		for _, o := range e.outputs {
			isOut = isOut || o == v
		}
		if !ok || !isOut {
			return fmt.Errorf("graph %q: backward: %q is not a graph output", e.g.Name, name)
		}
		if !tensor.SameShape(g.Shape, p.shapes[v]) || g.Len() != tensor.Size(g.Shape) {
			return fmt.Errorf("graph %q: backward: gradient of %q has shape %v, want %v", e.g.Name, name, g.Shape, p.shapes[v])
		}
		if p.grads[v] != nil {
			copy(p.grads[v].Data, g.Data)
		}
	}
	r := &e.rs
	*r = runState{training: true, threads: e.cfg.threads, rng: e.rng, ws: &e.ws}
	for k := len(e.nodes) - 1; k >= 0; k-- {
		if !e.nodes[k].backOK {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("graph %q: backward: %w", e.g.Name, err)
		}
		p.ops[k].backward(r, p.inT[k], p.outT[k], p.gOutT[k], p.gInT[k])
	}
	return nil
}

// Grads returns the gradient of every trainable parameter from the latest Backward,
// keyed by parameter name. The tensors belong to the executor and are overwritten by
// the next Backward. It is nil unless compiled WithTraining(true).
func (e *Executor) Grads() map[string]*tensor.Tensor { return e.grads }

// Graph returns the graph the executor runs.
func (e *Executor) Graph() *Graph { return e.g }

// OutputShapes returns the inferred shape of every graph output for a batch size.
func (e *Executor) OutputShapes(batch int) (map[string][]int, error) {
	all, err := InferShapes(e.g, batch)
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, o := range e.g.Outputs {
		out[o.Name] = all[o.Name]
	}
	return out, nil
}

// InferShapes returns the shape of every value of g (inputs, parameters, node outputs)
// when the dynamic dimensions of the inputs take the given batch size.
func InferShapes(g *Graph, batch int) (map[string][]int, error) {
	if batch < 1 {
		return nil, fmt.Errorf("graph: infer shapes: batch %d < 1", batch)
	}
	e, err := Compile(g)
	if err != nil {
		return nil, err
	}
	shapes := make([][]int, len(e.inputs))
	for i, v := range e.inputs {
		shapes[i] = concreteShape(g.Inputs[e.inputPos(v)].Shape, batch)
	}
	p, err := e.buildPlan(shapes)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]int, len(e.names))
	for i, name := range e.names {
		out[name] = p.shapes[i]
	}
	return out, nil
}
