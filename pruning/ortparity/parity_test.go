package ortparity_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/ortparity"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
)

const atol = 1e-4

func needORT(t *testing.T) {
	t.Helper()
	if err := ortparity.Available(); err != nil {
		if errors.Is(err, ortparity.ErrUnavailable) {
			t.Skipf("skipping ONNX Runtime parity: %v (CI installs it with scripts/install-ort.sh)", err)
		}
		t.Fatal(err)
	}
}

// mnistBatch returns the first n MNIST test images.
func mnistBatch(t *testing.T, n int) *tensor.Tensor {
	t.Helper()
	set, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x, _ := set.Batch(idx)
	return x
}

// compare writes g, runs it in ORT and in the engine on x and checks the outputs
// agree within atol; it returns the largest difference.
func compare(t *testing.T, g *graph.Graph, x *tensor.Tensor) float64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := onnx.WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
	in := g.Inputs[0].Name
	theirs, err := ortparity.Run(context.Background(), path, map[string]*tensor.Tensor{in: x}, ortparity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	// The default executor, and one with constant weights as deployed, whose 3×3
	// convolutions run as Winograd F(2×2, 3×3) where its first-run timing finds that
	// faster (graph's tests force it).
	for _, opts := range [][]graph.Option{nil, {graph.WithConstantWeights(true), graph.WithWinograd(true)}} {
		ex, err := graph.Compile(g, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := ex.Run(context.Background(), map[string]*tensor.Tensor{in: x})
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, compareOutputs(t, g, ours, theirs.Outputs))
	}
	return worst
}

// compareOutputs checks that the engine's outputs ours agree with ORT's theirs within
// atol and returns the largest difference.
func compareOutputs(t *testing.T, g *graph.Graph, ours, theirs map[string]*tensor.Tensor) float64 {
	t.Helper()
	worst := 0.0
	for _, o := range g.Outputs {
		a, b := ours[o.Name], theirs[o.Name]
		if a == nil || b == nil {
			t.Fatalf("output %q: engine %v, ORT %v", o.Name, a != nil, b != nil)
		}
		if !tensor.SameShape(a.Shape, b.Shape) {
			t.Fatalf("output %q: engine shape %v, ORT %v", o.Name, a.Shape, b.Shape)
		}
		for i := range a.Data {
			d := math.Abs(float64(a.Data[i]) - float64(b.Data[i]))
			if !(d <= atol) {
				t.Fatalf("output %q[%d]: engine %v, ORT %v (|diff| %g > %g)", o.Name, i, a.Data[i], b.Data[i], d, atol)
			}
			worst = max(worst, d)
		}
	}
	return worst
}

// TestBuiltModelsMatchORT exports every built-in architecture, freshly initialized and
// after a few training steps (so BatchNormalization carries non-trivial statistics),
// and compares ORT's outputs with the engine's on real MNIST digits.
func TestBuiltModelsMatchORT(t *testing.T) {
	needORT(t)
	x := mnistBatch(t, 8)
	set, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range models.Archs() {
		t.Run(arch, func(t *testing.T) {
			g, err := models.Build(arch, 7)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("fresh: max |engine - ORT| = %g", compare(t, g, x))
			if _, err := train.Fit(context.Background(), g, set, nil, train.Config{BatchSize: 32, MaxSteps: 3, LR: 0.01, Seed: 3}); err != nil {
				t.Fatal(err)
			}
			t.Logf("trained 3 steps: max |engine - ORT| = %g", compare(t, g, x))
		})
	}
}

// TestFixturesMatchORT round-trips the PyTorch fixtures through the engine's writer
// and runs them in ORT.
func TestFixturesMatchORT(t *testing.T) {
	needORT(t)
	paths, err := filepath.Glob("../testdata/*.onnx")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in ../testdata: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			g, err := onnx.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			shape := append([]int{4}, g.Inputs[0].Shape[1:]...)
			x := tensor.New(shape...)
			for i := range x.Data {
				x.Data[i] = float32(math.Sin(float64(i) * 0.37))
			}
			t.Logf("max |engine - ORT| = %g", compare(t, g, x))
		})
	}
}

func TestLoadAndTiming(t *testing.T) {
	needORT(t)
	p := "../testdata/resnet_op13.onnx"
	ins, outs, err := ortparity.Load(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0] != "input" || len(outs) != 1 || outs[0] != "logits" {
		t.Fatalf("Load = %v, %v; want [input], [logits]", ins, outs)
	}
	x := tensor.New(1, 1, 16, 16)
	res, err := ortparity.Run(context.Background(), p, map[string]*tensor.Tensor{"input": x}, ortparity.Config{Threads: 1, Warmup: 2, Iters: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latencies) != 5 {
		t.Fatalf("%d latencies, want 5", len(res.Latencies))
	}
	for _, l := range res.Latencies {
		if l <= 0 {
			t.Fatalf("latency %v, want > 0", l)
		}
	}
	// A model ORT cannot load gives ORT's error, not a crash.
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ortparity.Load(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "onnxruntime") {
		t.Fatalf("bad model: err = %v, want ORT's error", err)
	}
	// Wrong input shape: an error, not a hang.
	if _, err := ortparity.Run(context.Background(), p, map[string]*tensor.Tensor{"input": tensor.New(1, 3)}, ortparity.Config{}); err == nil {
		t.Fatal("wrong input shape: no error")
	}
}
