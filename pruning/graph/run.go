package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

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
	*r = e.runStateFor(p, training)
	timing := e.cfg.timing && !training
	for k := range e.nodes {
		if k&15 == 15 {
			if err := ctx.Err(); err != nil {
				return p, fmt.Errorf("graph %q: run: %w", e.g.Name, err)
			}
		}
		if e.folded[k] {
			continue
		}
		if e.absorbed[k] || e.reluInBN[k] {
			if timing {
				e.timings[k].Calls++
			}
			continue
		}
		if ep := e.epilogues[k]; ep != nil {
			if ep.bn >= 0 && !ep.folded {
				ep.refresh(p.inT[ep.bn])
				ep.folded = r.constant
			}
			if ep.add >= 0 {
				ep.residual = p.inT[ep.add][ep.addOther].Data
			}
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

// runStateFor is the state of a forward of plan p (training or inference) under the
// executor's options.
func (e *Executor) runStateFor(p *plan, training bool) runState {
	return runState{training: training, constant: e.cfg.constant && !e.cfg.training, winograd: !e.cfg.noWinograd, forceWino: e.cfg.forceWino,
		threads: e.cfg.threads, alone: p.sharing == shareAlone, rng: e.rng, ws: &e.ws}
}

// keepTimings saves the per-node timings and returns what puts them back: the runs
// an executor makes to choose among its routes are not the caller's.
func (e *Executor) keepTimings() (restore func()) {
	saved := append([]NodeTiming(nil), e.timings...)
	return func() { copy(e.timings, saved) }
}

// Run computes the graph outputs in inference mode (BatchNormalization uses its running
// statistics, Dropout is the identity). Inputs are keyed by graph input name; dimension
// 0 is the batch and may take any size, the others must match the graph. The returned
// tensors are fresh copies owned by the caller.
//
// On an executor compiled WithTraining, a Run with the input shapes of the latest
// Forward reuses its activations, so a following Backward returns ErrNoForward.
func (e *Executor) Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	p, err := e.infer(ctx, inputs)
	if err != nil {
		return nil, err
	}
	return e.collect(p), nil
}

// infer is the forward pass of Run and RunInto.
func (e *Executor) infer(ctx context.Context, inputs map[string]*tensor.Tensor) (*plan, error) {
	p, err := e.forward(ctx, inputs, false)
	if p != nil && p == e.last {
		e.last = nil
	}
	if err == nil && p.sharing == shareUntimed {
		err = e.pickSharing(ctx, p, inputs)
	}
	return p, err
}

// RunInto is Run without allocating: it writes each graph output into out[name],
// reusing that tensor when it has the output's shape and putting a new one in its
// place otherwise (so a map kept from run to run is allocated once). out must not be
// nil. The tensors in out are the caller's; the executor keeps none of them. Latency
// measurements use it, as ONNX Runtime's IOBinding serves the same purpose.
func (e *Executor) RunInto(ctx context.Context, inputs, out map[string]*tensor.Tensor) error {
	if out == nil {
		return fmt.Errorf("graph %q: run: nil output map", e.g.Name)
	}
	p, err := e.infer(ctx, inputs)
	if err != nil {
		return err
	}
	for _, v := range e.outputs {
		name, val := e.names[v], p.vals[v]
		t := out[name]
		if t == nil || !tensor.SameShape(t.Shape, val.Shape) || len(t.Data) != len(val.Data) {
			t = tensor.New(val.Shape...)
			out[name] = t
		}
		copy(t.Data, val.Data)
	}
	return nil
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
	for v, g := range p.grads {
		if g != nil && !p.noClear[v] {
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
		r.overwrite = p.over[k]
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
