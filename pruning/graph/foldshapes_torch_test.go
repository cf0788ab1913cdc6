package graph_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestTorchViewExportRuns reads a model that torch.onnx.export wrote for
// x.view(x.size(0), -1) under a dynamic batch (testdata/export_torch_view.py) and
// checks the engine reproduces PyTorch's outputs at batch 2.
func TestTorchViewExportRuns(t *testing.T) {
	g, err := onnx.ReadFile("testdata/torch_view.onnx")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/torch_view.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		InputShape  []int     `json:"input_shape"`
		Input       []float32 `json:"input"`
		OutputShape []int     `json:"output_shape"`
		Output      []float32 `json:"output"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	ex, err := graph.Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"input": tensor.FromData(ref.Input, ref.InputShape...)})
	if err != nil {
		t.Fatal(err)
	}
	y := out["logits"]
	if !tensor.SameShape(y.Shape, ref.OutputShape) {
		t.Fatalf("output shape %v, want %v", y.Shape, ref.OutputShape)
	}
	for i, want := range ref.Output {
		if d := math.Abs(float64(y.Data[i] - want)); d > 1e-4 {
			t.Fatalf("output %d: got %v, want %v", i, y.Data[i], want)
		}
	}
	for _, n := range g.Nodes {
		if n.Op == "Shape" || n.Op == "Gather" || n.Op == "Unsqueeze" {
			t.Errorf("node %s (%s) survived folding", n.Name, n.Op)
		}
	}
	// The folded graph writes back as standard ONNX and reads again to the same result.
	path := filepath.Join(t.TempDir(), "folded.onnx")
	if err := onnx.WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
	g2, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ex2, err := graph.Compile(g2)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := ex2.Run(context.Background(), map[string]*tensor.Tensor{"input": tensor.FromData(ref.Input, ref.InputShape...)})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out2["logits"].Data {
		if v != y.Data[i] {
			t.Fatalf("after write and read, output %d: got %v, want %v", i, v, y.Data[i])
		}
	}
}
