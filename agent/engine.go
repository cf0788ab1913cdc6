package agent

import (
	"bytes"
	"context"
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// model is a compiled variant ready to benchmark: the engine's executor with per-node
// timing on, and the one graph input it is fed through.
type model struct {
	exec        *graph.Executor
	input       string
	outputs     []string
	sampleShape []int64
	// in, out and outs are reused from run to run (graph.Executor.RunInto): the timed
	// loop allocates nothing.
	in, out map[string]*tensor.Tensor
	outs    []*tensor.Tensor
}

// loadModel decodes ONNX bytes with the engine and compiles them for threads
// goroutines with timing on. sampleShape, the per-sample input shape of the manifest,
// may be empty: it is then taken from the graph, whose non-batch dimensions must be
// fixed. It returns an error for a model the engine cannot read or run, a model with
// other than one input, or a sample shape that contradicts the graph.
func loadModel(onnxBytes []byte, threads int, sampleShape []int64) (*model, error) {
	g, err := onnx.Read(bytes.NewReader(onnxBytes))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("model: graph %q has %d inputs, the benchmark feeds exactly 1", g.Name, len(g.Inputs))
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("model: graph %q has no outputs", g.Name)
	}
	in := g.Inputs[0]
	shape, err := sampleShapeOf(in, sampleShape)
	if err != nil {
		return nil, fmt.Errorf("model: graph %q: %w", g.Name, err)
	}
	exec, err := graph.Compile(g, graph.WithThreads(threads), graph.WithTiming(true), graph.WithConstantWeights(true))
	if err != nil {
		return nil, fmt.Errorf("model: compile: %w", err)
	}
	m := &model{exec: exec, input: in.Name, sampleShape: shape}
	for _, o := range g.Outputs {
		m.outputs = append(m.outputs, o.Name)
	}
	return m, nil
}

// sampleShapeOf reconciles the manifest's per-sample shape with the graph input's.
func sampleShapeOf(in graph.Value, manifest []int64) ([]int64, error) {
	if len(in.Shape) == 0 {
		return nil, fmt.Errorf("input %q has no shape", in.Name)
	}
	graphSample := in.Shape[1:]
	if len(manifest) == 0 {
		out := make([]int64, len(graphSample))
		for i, d := range graphSample {
			if d <= 0 {
				return nil, fmt.Errorf("input %q dim %d is not fixed and the manifest gives no input shape", in.Name, i+1)
			}
			out[i] = int64(d)
		}
		return out, nil
	}
	if len(manifest) != len(graphSample) {
		return nil, fmt.Errorf("manifest input shape %v has rank %d, input %q has per-sample rank %d", manifest, len(manifest), in.Name, len(graphSample))
	}
	for i, d := range graphSample {
		if d > 0 && int64(d) != manifest[i] {
			return nil, fmt.Errorf("manifest input shape %v differs from input %q shape %v at dim %d", manifest, in.Name, in.Shape, i+1)
		}
	}
	return append([]int64(nil), manifest...), nil
}

// run feeds x through the model and returns its outputs in graph order, valid until
// the next run.
func (m *model) run(ctx context.Context, x *tensor.Tensor) ([]*tensor.Tensor, error) {
	if m.out == nil {
		m.in, m.out = make(map[string]*tensor.Tensor, 1), make(map[string]*tensor.Tensor, len(m.outputs))
		m.outs = make([]*tensor.Tensor, len(m.outputs))
	}
	m.in[m.input] = x
	if err := m.exec.RunInto(ctx, m.in, m.out); err != nil {
		return nil, err
	}
	for i, name := range m.outputs {
		m.outs[i] = m.out[name]
	}
	return m.outs, nil
}
