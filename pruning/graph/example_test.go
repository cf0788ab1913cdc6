package graph_test

import (
	"context"
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// A one-layer model y = relu(x·Wᵀ + b), compiled once and run at two batch sizes, then
// one training step.
func Example() {
	g := graph.New("tiny", 13)
	g.Inputs = []graph.Value{{Name: "x", Shape: []int{graph.DynamicDim, 3}}}
	g.Params["W"] = tensor.FromData([]float32{1, 0, 0, 0, 1, -1}, 2, 3)
	g.Params["b"] = tensor.FromData([]float32{0, 0.5}, 2)
	g.Nodes = []*graph.Node{
		{Name: "fc", Op: "Gemm", Inputs: []string{"x", "W", "b"}, Outputs: []string{"h"},
			Attrs: map[string]graph.Attr{"transB": graph.IntAttr(1)}},
		{Name: "relu", Op: "Relu", Inputs: []string{"h"}, Outputs: []string{"y"}},
	}
	g.Outputs = []graph.Value{{Name: "y", Shape: []int{graph.DynamicDim, 2}}}

	ex, err := graph.Compile(g, graph.WithTraining(true))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	out, _ := ex.Run(ctx, map[string]*tensor.Tensor{"x": tensor.FromData([]float32{1, 2, 3}, 1, 3)})
	fmt.Println("batch 1:", out["y"].Data)
	out, _ = ex.Run(ctx, map[string]*tensor.Tensor{"x": tensor.FromData([]float32{1, 2, 3, -1, 0, -2}, 2, 3)})
	fmt.Println("batch 2:", out["y"].Data)

	x := map[string]*tensor.Tensor{"x": tensor.FromData([]float32{1, 2, 3}, 1, 3)}
	logits, _ := ex.Forward(ctx, x)
	loss, grad := graph.SoftmaxCrossEntropy(logits["y"], []int{0})
	_ = ex.Backward(ctx, map[string]*tensor.Tensor{"y": grad})
	fmt.Printf("loss %.4f, dL/db %.4f\n", loss, ex.Grads()["b"].Data)
	// Output:
	// batch 1: [1 0]
	// batch 2: [1 0 0 2.5]
	// loss 0.3133, dL/db [-0.2689 0.0000]
}
