package graph

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// sparseForm is the CSR form of one node's weight: one matrix, or one per group.
type sparseForm []*kernels.CSR

// sparseCapable is an op with a CSR path for its weight (input 1).
type sparseCapable interface {
	op
	// buildSparse returns the CSR form of weight w for this op's configuration, or nil
	// when the op has no sparse path in that configuration.
	buildSparse(w *tensor.Tensor) sparseForm
	// setSparse makes inference-mode forward use f (nil: dense).
	setSparse(f sparseForm)
}

func zeroFraction(t *tensor.Tensor) float64 {
	if t.Len() == 0 {
		return 0
	}
	z := 0
	for _, v := range t.Data {
		if v == 0 {
			z++
		}
	}
	return float64(z) / float64(t.Len())
}

// chooseSparse decides, node by node, whether the CSR form beats the dense kernel on a
// batch-1 sample, and records the winners in e.sparse.
func (e *Executor) chooseSparse(shapes [][]int) error {
	defer func() {
		// The plan used here was built before the choice; timings are not the user's.
		clear(e.plans)
		e.recent = nil
		e.ResetTimings()
	}()
	p, err := e.warmRun(shapes, 1)
	if err != nil {
		return err
	}
	rs := &runState{threads: e.cfg.threads, rng: e.rng, ws: &e.ws}
	for k, cn := range e.nodes {
		so, ok := p.ops[k].(sparseCapable)
		if !ok || len(cn.in) < 2 || cn.in[1] < 0 || !e.isParam[cn.in[1]] {
			continue
		}
		w := e.g.Params[e.names[cn.in[1]]]
		if zeroFraction(w) < SparseMinZeros {
			continue
		}
		f := so.buildSparse(w)
		if f == nil {
			continue
		}
		if e.sparseCand == nil {
			e.sparseCand = make([]sparseForm, len(e.nodes))
		}
		e.sparseCand[k] = f
		if !e.cfg.forceSparse && !sparseFaster(so, f, rs, p.inT[k], p.outT[k]) {
			continue
		}
		e.sparse[k] = f
	}
	return nil
}

// chooseSparsePlan decides again, for plan p of a new input shape (a batch size other
// than Compile's batch 1), which nodes run their CSR weight: a sparse product that wins
// on one sample can lose on 64, where the dense kernel reuses each weight across the
// batch. One inference pass on random inputs of p's shapes fills the activations,
// then each candidate node is timed both ways. The accumulated per-node timings are
// kept as they were.
func (e *Executor) chooseSparsePlan(p *plan) error {
	if !e.sparseReady || e.cfg.forceSparse || e.cfg.training || e.sparseCand == nil {
		return nil
	}
	defer e.keepTimings()()
	if _, err := e.warmRun(p.inShapes, 3); err != nil {
		return err
	}
	rs := e.runStateFor(p, false)
	for k, f := range e.sparseCand {
		if f == nil {
			continue
		}
		so := p.ops[k].(sparseCapable)
		if sparseFaster(so, f, &rs, p.inT[k], p.outT[k]) {
			so.setSparse(f)
		}
	}
	return nil
}

// warmRun runs one inference pass on uniform random inputs of the given shapes
// (stream seed, seed+1), which fills every activation with realistic values, and
// returns the plan it ran.
func (e *Executor) warmRun(shapes [][]int, seed uint64) (*plan, error) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	inputs := map[string]*tensor.Tensor{}
	for i, v := range e.inputs {
		t := tensor.New(shapes[i]...)
		for j := range t.Data {
			t.Data[j] = r.Float32()
		}
		inputs[e.names[v]] = t
	}
	return e.forward(context.Background(), inputs, false)
}

// sparseFaster times so's forward dense and with the CSR weight f on the plan's
// tensors and reports whether f was faster; so is left dense.
func sparseFaster(so sparseCapable, f sparseForm, rs *runState, in, out []*tensor.Tensor) bool {
	so.setSparse(nil)
	dense := timeOp(so, rs, in, out)
	so.setSparse(f)
	sparse := timeOp(so, rs, in, out)
	so.setSparse(nil)
	return sparse < dense
}

// timeOp returns the best of several timed forwards after a warm-up.
func timeOp(o op, r *runState, in, out []*tensor.Tensor) time.Duration {
	o.forward(r, in, out)
	best := time.Duration(1<<63 - 1)
	var total time.Duration
	for i := 0; i < 50 && (i < 5 || total < 2*time.Millisecond); i++ {
		t0 := time.Now()
		o.forward(r, in, out)
		d := time.Since(t0)
		total += d
		best = min(best, d)
	}
	return best
}

// SparseNodes returns the names of the nodes that run with a CSR weight in Run.
func (e *Executor) SparseNodes() []string {
	var names []string
	for k, cn := range e.nodes {
		if e.sparse[k] != nil {
			names = append(names, cn.node.Name)
		}
	}
	return names
}
