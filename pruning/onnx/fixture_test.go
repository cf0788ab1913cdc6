package onnx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
)

const testdata = "../testdata"

// fixture is one model exported by scripts/export_fixtures.py with its reference
// input and PyTorch's output.
type fixture struct {
	Name   string
	Model  string  `json:"model"`
	Opset  int64   `json:"opset"`
	Atol   float64 `json:"atol"`
	Input  ioSpec  `json:"input"`
	Output ioSpec  `json:"output"`
	in     *tensor.Tensor
	out    *tensor.Tensor
}

type ioSpec struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	File  string `json:"file"`
}

func readF32(t *testing.T, path string, shape []int) *tensor.Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*tensor.Size(shape) {
		t.Fatalf("%s: %d bytes, shape %v needs %d", path, len(b), shape, 4*tensor.Size(shape))
	}
	d := make([]float32, len(b)/4)
	for i := range d {
		d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return tensor.FromData(d, shape...)
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testdata, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s (run scripts/export_fixtures.py): %v", testdata, err)
	}
	sort.Strings(paths)
	var out []fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f fixture
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.Name = filepath.Base(p[:len(p)-len(".json")])
		f.in = readF32(t, filepath.Join(testdata, f.Input.File), f.Input.Shape)
		f.out = readF32(t, filepath.Join(testdata, f.Output.File), f.Output.Shape)
		out = append(out, f)
	}
	return out
}

func run(t *testing.T, g *graph.Graph, in string, x *tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	ex, err := graph.Compile(g)
	if err != nil {
		t.Fatalf("compile %s: %v", g.Name, err)
	}
	out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{in: x})
	if err != nil {
		t.Fatalf("run %s: %v", g.Name, err)
	}
	return out
}

func maxAbsDiff(t *testing.T, got, want *tensor.Tensor) float64 {
	t.Helper()
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	m := 0.0
	for i := range got.Data {
		d := math.Abs(float64(got.Data[i]) - float64(want.Data[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// TestFixturesMatchPyTorch runs every exported fixture and compares with PyTorch's
// outputs, then round-trips it (write, read) and checks the graph and its outputs are
// unchanged.
func TestFixturesMatchPyTorch(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			g, err := onnx.ReadFile(filepath.Join(testdata, f.Model))
			if err != nil {
				t.Fatal(err)
			}
			if g.Opset != f.Opset {
				t.Fatalf("opset = %d, want %d", g.Opset, f.Opset)
			}
			if len(g.Inputs) != 1 || g.Inputs[0].Shape[0] != graph.DynamicDim {
				t.Fatalf("inputs = %+v, want one with a dynamic batch dimension", g.Inputs)
			}
			out := run(t, g, f.Input.Name, f.in)
			got := out[f.Output.Name]
			if got == nil {
				t.Fatalf("no output %q in %v", f.Output.Name, out)
			}
			d := maxAbsDiff(t, got, f.out)
			if d > f.Atol {
				t.Fatalf("max abs error vs PyTorch = %g, want ≤ %g", d, f.Atol)
			}
			t.Logf("max abs error vs PyTorch: %g", d)

			// Dynamic batch: one sample gives row 0.
			per := tensor.Size(f.Input.Shape[1:])
			one := tensor.FromData(append([]float32(nil), f.in.Data[:per]...), append([]int{1}, f.Input.Shape[1:]...)...)
			row := run(t, g, f.Input.Name, one)[f.Output.Name]
			wantRow := tensor.FromData(f.out.Data[:f.Output.Shape[1]], 1, f.Output.Shape[1])
			if d := maxAbsDiff(t, row, wantRow); d > f.Atol {
				t.Fatalf("batch 1: max abs error = %g, want ≤ %g", d, f.Atol)
			}

			b1, err := onnx.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			g2, err := onnx.Read(bytes.NewReader(b1))
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if !reflect.DeepEqual(g, g2) {
				t.Fatalf("round trip changed the graph:\n got %+v\nwant %+v", g2, g)
			}
			b2, err := onnx.Marshal(g2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1, b2) {
				t.Fatal("second write differs from the first")
			}
			got2 := run(t, g2, f.Input.Name, f.in)[f.Output.Name]
			if d := maxAbsDiff(t, got2, got); d != 0 {
				t.Fatalf("outputs after round trip differ by %g, want 0", d)
			}
		})
	}
}

// TestFineTuneFixture trains a PyTorch-exported model a few steps on real MNIST, saves
// it and loads it back: the saved model must reproduce the tuned weights' outputs.
func TestFineTuneFixture(t *testing.T) {
	g, err := onnx.ReadFile(filepath.Join(testdata, "lenet5_op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 256)
	for i := range idx {
		idx[i] = i
	}
	set = set.Subset("mnist-256", idx)
	probe, _ := set.Batch([]int{0, 1, 2, 3})
	before := run(t, g, "input", probe)["logits"]
	if _, err := train.Fit(context.Background(), g, set, nil, train.Config{Epochs: 1, BatchSize: 32, MaxSteps: 4, LR: 0.01, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	after := run(t, g, "input", probe)["logits"]
	if d := maxAbsDiff(t, after, before); d < 1e-4 {
		t.Fatalf("fine-tuning changed the outputs by %g only", d)
	}
	path := filepath.Join(t.TempDir(), "tuned.onnx")
	if err := onnx.WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
	g2, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, run(t, g2, "input", probe)["logits"], after); d != 0 {
		t.Fatalf("saved tuned model differs by %g, want 0", d)
	}
	if _, err := train.Fit(context.Background(), g2, set, nil, train.Config{Epochs: 1, BatchSize: 32, MaxSteps: 1, Seed: 1}); err != nil {
		t.Fatalf("reloaded model does not train: %v", err)
	}
}
