package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"

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
	folded    []bool // per node: a Constant, folded at Compile, never run
	needGrad  []bool // per value: gradient flows to a trainable parameter
	trainable []bool // per value: a trainable parameter

	plans   map[uint64]*plan
	recent  *plan // the plan of the latest run, checked first
	last    *plan // plan of the latest training-mode Forward, for Backward
	rng     *rand.Rand
	grads   map[string]*tensor.Tensor
	timings []NodeTiming
	sparse  []sparseForm // per node: CSR weight chosen at Compile (WithSparse)
	// sparseCand holds every node's eligible CSR weight (WithSparse), timed again
	// against the dense kernel for each new input shape (chooseSparsePlan);
	// sparseReady says Compile's own choice is done.
	sparseCand  []sparseForm
	sparseReady bool
	sparseAt    int // the batch size of Compile's choice
	ws          workspace
	rs          runState

	epilogues  []*epilogue  // per producer node: fused BatchNormalization/Add/Relu
	absorbed   []bool       // per node: fused into its producer, skipped at run time
	chainIn    []int        // per absorbed node: the input its output aliases
	noResidual map[int]bool // Add nodes that broadcast and so stay unfused
	reluInBN   []bool       // per Relu node (training): computed by the BatchNormalization before it
}

type compiledNode struct {
	node    *Node
	in, out []int // value indices; -1 marks an omitted optional input
	factory opFactory
	backOK  bool // some input needs a gradient
}

// Compile validates g, checks that every operator is supported, infers shapes with a
// dynamic batch dimension and returns an executor. Errors name the node at fault, for
// example `graph: node "conv3" (LSTM): unsupported operator`. A graph holding
// PyTorch's run-time shape computation for x.view(x.size(0), -1) is first rewritten in
// place by FoldShapes; only then does Compile write to g, so concurrent Compiles of one
// graph are safe once it has been folded (call FoldShapes first when in doubt).
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
	e.folded = make([]bool, len(e.nodes))
	for k, cn := range e.nodes {
		if len(cn.out) > 0 {
			_, e.folded[k] = e.constants[cn.out[0]]
		}
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
	e.noResidual = map[int]bool{}
	e.planFusion()
	// Shape check with two batch sizes so that errors surface at Compile.
	var first [][]int
	for _, b := range []int{1, 2} {
		shapes := make([][]int, len(e.inputs))
		for i, v := range e.inputs {
			shapes[i] = concreteShape(g.Inputs[e.inputPos(v)].Shape, b)
		}
		p, err := e.inferPlan(shapes)
		if err != nil {
			return nil, err
		}
		if bad := e.checkResidualShapes(p); len(bad) > 0 {
			// A broadcasting Add cannot be fused: plan again without it.
			for _, j := range bad {
				e.noResidual[j] = true
			}
			e.planFusion()
			if _, err := e.inferPlan(shapes); err != nil {
				return nil, err
			}
		}
		if first == nil {
			first = shapes
		}
	}
	if cfg.sparse {
		if err := e.chooseSparse(first); err != nil {
			return nil, err
		}
		e.sparseReady = true
		if len(first) > 0 && len(first[0]) > 0 {
			e.sparseAt = first[0][0]
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
