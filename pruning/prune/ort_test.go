package prune

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/ortparity"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestPrunedModelsRunInONNXRuntime writes every kind of pruned model as ONNX, reads it
// back, runs it in ONNX Runtime and checks the outputs against the engine's.
func TestPrunedModelsRunInONNXRuntime(t *testing.T) {
	if err := ortparity.Available(); err != nil {
		if errors.Is(err, ortparity.ErrUnavailable) {
			t.Skipf("skipping ONNX Runtime parity: %v (CI installs it with scripts/install-ort.sh)", err)
		}
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := map[string]func(*graph.Graph) (*graph.Graph, error){
		"structured": func(g *graph.Graph) (*graph.Graph, error) {
			res, err := Prune(ctx, g, Config{Method: Structured, Target: Target{Kind: TargetSparsity, Value: 0.5}, Multiple: 4})
			if err != nil {
				return nil, err
			}
			return res.Graph, nil
		},
		"unstructured": func(g *graph.Graph) (*graph.Graph, error) {
			res, err := Prune(ctx, g, Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetSparsity, Value: 0.9}})
			if err != nil {
				return nil, err
			}
			return res.Graph, nil
		},
	}
	for name, g := range testModels(t) {
		for kind, pruneFn := range cases {
			t.Run(name+"/"+kind, func(t *testing.T) {
				pruned, err := pruneFn(g)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "variant.onnx")
				if err := onnx.WriteFile(path, pruned); err != nil {
					t.Fatal(err)
				}
				back, err := onnx.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				x := randomInput(g, 3)
				ours := run(t, back, x)
				if d := maxDiff(t, ours, run(t, pruned, x)); d != 0 {
					t.Fatalf("written and read back, outputs differ by %g", d)
				}
				res, err := ortparity.Run(ctx, path, map[string]*tensor.Tensor{g.Inputs[0].Name: x}, ortparity.Config{})
				if err != nil {
					t.Fatal(err)
				}
				theirs := res.Outputs[g.Outputs[0].Name]
				if theirs == nil {
					t.Fatalf("ONNX Runtime returned no %q", g.Outputs[0].Name)
				}
				scale := 1.0
				for _, v := range ours.Data {
					scale = max(scale, float64(abs32(v)))
				}
				if d := maxDiff(t, ours, theirs); d > 1e-4*scale {
					t.Errorf("ONNX Runtime and engine differ by %g (largest output %g)", d, scale)
				}
			})
		}
	}
}
