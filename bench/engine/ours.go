package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// engine is fleetprune's side of one model: an inference executor, a training executor
// with an SGD-with-momentum update, and fixed random inputs per batch size.
type engine struct {
	g        *graph.Graph
	infer    *graph.Executor
	train    *graph.Executor
	velocity map[string][]float32
	inputs   map[int]map[string]*tensor.Tensor
	labels   []int
}

// newEngine builds the model; with sparsity > 0 every weight matrix of a Gemm or Conv
// is magnitude-pruned to that zero fraction first, and with sparse the inference
// executor may run those layers through CSR kernels (graph.WithSparse).
func newEngine(arch string, threads int, sparsity float64, sparse bool) (*engine, error) {
	g, err := models.Build(arch, 1)
	if err != nil {
		return nil, err
	}
	if sparsity > 0 {
		for _, n := range g.Nodes {
			if (n.Op == "Gemm" || n.Op == "Conv" || n.Op == "MatMul") && len(n.Inputs) > 1 {
				if w, ok := g.Params[n.Inputs[1]]; ok {
					copy(w.Data, magnitudePrune(w.Data, sparsity))
				}
			}
		}
	}
	inf, err := graph.Compile(g, graph.WithThreads(threads), graph.WithSparse(sparse), graph.WithConstantWeights(true))
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", arch, err)
	}
	// Training runs on a clone so its weight updates do not touch the model written
	// for ONNX Runtime.
	tg := g.Clone()
	tr, err := graph.Compile(tg, graph.WithThreads(threads), graph.WithTraining(true))
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", arch, err)
	}
	e := &engine{g: g, infer: inf, train: tr, velocity: map[string][]float32{}, inputs: map[int]map[string]*tensor.Tensor{}}
	return e, nil
}

func (e *engine) input(batch int) map[string]*tensor.Tensor {
	if in, ok := e.inputs[batch]; ok {
		return in
	}
	r := rand.New(rand.NewPCG(uint64(batch), 7))
	t := tensor.New(batch, 1, 28, 28)
	for i := range t.Data {
		t.Data[i] = r.Float32()*2 - 1
	}
	in := map[string]*tensor.Tensor{models.InputName: t}
	e.inputs[batch] = in
	return in
}

// timeInfer runs warmup+runs inferences at the batch size and returns the run times.
func (e *engine) timeInfer(ctx context.Context, batch, warmup, runs int) (sample, error) {
	in := e.input(batch)
	out := map[string]*tensor.Tensor{}
	s := make(sample, 0, runs)
	for i := range warmup + runs {
		t0 := time.Now()
		if err := e.infer.RunInto(ctx, in, out); err != nil {
			return nil, err
		}
		if i >= warmup {
			s = append(s, time.Since(t0))
		}
	}
	return s, nil
}

// timeTrain runs warmup+runs training steps (forward, softmax cross-entropy, backward,
// SGD with momentum 0.9) at the batch size and returns the step times.
func (e *engine) timeTrain(ctx context.Context, batch, warmup, runs int) (sample, error) {
	in := e.input(batch)
	if len(e.labels) != batch {
		e.labels = make([]int, batch)
		for i := range e.labels {
			e.labels[i] = i % 10
		}
	}
	params := e.train.Graph().Params
	s := make(sample, 0, runs)
	for i := range warmup + runs {
		t0 := time.Now()
		out, err := e.train.Forward(ctx, in)
		if err != nil {
			return nil, err
		}
		_, grad := graph.SoftmaxCrossEntropy(out[models.OutputName], e.labels)
		if err := e.train.Backward(ctx, map[string]*tensor.Tensor{models.OutputName: grad}); err != nil {
			return nil, err
		}
		for name, gr := range e.train.Grads() {
			v := e.velocity[name]
			if v == nil {
				v = make([]float32, len(gr.Data))
				e.velocity[name] = v
			}
			w := params[name].Data
			for j, gv := range gr.Data {
				v[j] = 0.9*v[j] + gv
				w[j] -= 1e-3 * v[j]
			}
		}
		if i >= warmup {
			s = append(s, time.Since(t0))
		}
	}
	return s, nil
}
