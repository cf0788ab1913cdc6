package prune

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// run executes g in inference mode on x and returns its first output.
func run(tb testing.TB, g *graph.Graph, x *tensor.Tensor) *tensor.Tensor {
	tb.Helper()
	ex, err := graph.Compile(g)
	if err != nil {
		tb.Fatalf("compile %s: %v", g.Name, err)
	}
	out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		tb.Fatalf("run %s: %v", g.Name, err)
	}
	return out[g.Outputs[0].Name]
}

func randomInput(g *graph.Graph, batch int) *tensor.Tensor {
	shape := append([]int{batch}, g.Inputs[0].Shape[1:]...)
	x := tensor.New(shape...)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

func maxDiff(tb testing.TB, a, b *tensor.Tensor) float64 {
	tb.Helper()
	if !tensor.SameShape(a.Shape, b.Shape) {
		tb.Fatalf("output shapes differ: %v and %v", a.Shape, b.Shape)
	}
	var m float64
	for i := range a.Data {
		m = math.Max(m, math.Abs(float64(a.Data[i]-b.Data[i])))
	}
	return m
}

// testModels are the built-in architectures plus the hand-built graph that covers
// depthwise convolution and Concat.
func testModels(tb testing.TB) map[string]*graph.Graph {
	tb.Helper()
	out := map[string]*graph.Graph{"resnet-hand": resnet(tb), "lenet5-reshape": lenet5(tb, "Reshape")}
	for _, arch := range []string{"lenet-300-100", "lenet-5", "resnet-8"} {
		g, err := models.Build(arch, 1)
		if err != nil {
			tb.Fatal(err)
		}
		out[arch] = g
	}
	return out
}

func TestRatioZeroChangesNothing(t *testing.T) {
	for name, g := range testModels(t) {
		t.Run(name, func(t *testing.T) {
			x := randomInput(g, 3)
			want := run(t, g, x)
			d := mustBuild(t, g)
			same, err := d.Remove(nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(t, run(t, same, x), want); diff != 0 {
				t.Errorf("Remove(nil): outputs differ by %g, want 0", diff)
			}
			res, err := Prune(context.Background(), g, Config{Method: Structured, Target: Target{Kind: TargetSparsity}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(t, run(t, res.Graph, x), want); diff != 0 {
				t.Errorf("structured sparsity=0: outputs differ by %g, want 0", diff)
			}
			res, err = Prune(context.Background(), g, Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetSparsity}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := maxDiff(t, run(t, res.Graph, x), want); diff != 0 {
				t.Errorf("unstructured sparsity=0: outputs differ by %g, want 0", diff)
			}
		})
	}
}

// TestRemovingDeadUnitsKeepsOutputs silences some units of every group (zeroing every
// slice but the consumers' inputs, so the channel is zero everywhere), removes them,
// and checks that the smaller model computes the same outputs: the dependency graph
// removed exactly the coupled slices, no more, no fewer.
func TestRemovingDeadUnitsKeepsOutputs(t *testing.T) {
	for name, g := range testModels(t) {
		t.Run(name, func(t *testing.T) {
			d := mustBuild(t, g)
			if len(d.Groups) == 0 {
				t.Fatal("no prunable groups")
			}
			remove := map[string][]int{}
			for _, gr := range d.Groups {
				for i := 0; i < gr.Size(); i += 3 {
					remove[gr.Name] = append(remove[gr.Name], i)
					for _, s := range gr.Units[i].Slices {
						if s.Role != RoleIn {
							p := g.Params[s.Param]
							forSlice(p, s.Axis, s.Index, func(j int) { p.Data[j] = 0 })
						}
					}
				}
			}
			x := randomInput(g, 4)
			want := run(t, g, x)
			pruned, err := d.Remove(remove)
			if err != nil {
				t.Fatal(err)
			}
			if totals(t, pruned) >= totals(t, g) {
				t.Fatalf("pruned model has %d params, original %d", totals(t, pruned), totals(t, g))
			}
			scale := 1.0
			for _, v := range want.Data {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			if diff := maxDiff(t, run(t, pruned, x), want); diff > 1e-5*scale {
				t.Errorf("outputs differ by %g (largest output %g) after removing dead units, want ≤ 1e-5 relative", diff, scale)
			}
		})
	}
}

func TestResNet8Groups(t *testing.T) {
	g, err := models.Build("resnet-8", 1)
	if err != nil {
		t.Fatal(err)
	}
	d := mustBuild(t, g)
	want := map[string][]string{
		"stem.conv":    {"stem.conv", "layer1.conv2"},
		"layer1.conv1": {"layer1.conv1"},
		"layer2.conv1": {"layer2.conv1"},
		"layer2.conv2": {"layer2.conv2", "layer2.down.conv"},
		"layer3.conv1": {"layer3.conv1"},
		"layer3.conv2": {"layer3.conv2", "layer3.down.conv"},
	}
	if len(d.Groups) != len(want) {
		t.Fatalf("got groups %v, want %d groups", d.GroupNames(), len(want))
	}
	for name, layers := range want {
		gr := d.Group(name)
		if gr == nil {
			t.Fatalf("no group %q in %v", name, d.GroupNames())
		}
		if len(gr.Layers) != len(layers) {
			t.Errorf("group %s couples %v, want %v", name, gr.Layers, layers)
		}
	}
}

func TestStructuredResNet8KeepsShapesConsistent(t *testing.T) {
	g, err := models.Build("resnet-8", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, crit := range []Criterion{CriterionL1, CriterionL2, CriterionBN} {
		t.Run(string(crit), func(t *testing.T) {
			res, err := Prune(context.Background(), g, Config{Method: Structured, Criterion: crit,
				Target: Target{Kind: TargetMACs, Value: 0.25, Relative: true}, Multiple: 4})
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Graph.Validate(); err != nil {
				t.Fatal(err)
			}
			before, after := macsOf(t, g), macsOf(t, res.Graph)
			if float64(after) > 0.25*float64(before) {
				t.Errorf("MACs %d → %d, want ≤ 0.25x", before, after)
			}
			for name, k := range res.Kept {
				if k%4 != 0 {
					t.Errorf("group %s keeps %d channels, want a multiple of 4", name, k)
				}
			}
			out := run(t, res.Graph, randomInput(g, 2))
			if !tensor.SameShape(out.Shape, []int{2, 10}) {
				t.Errorf("output shape %v, want [2 10]", out.Shape)
			}
			shapes, err := graph.InferShapes(res.Graph, 2)
			if err != nil {
				t.Fatalf("engine shape inference on the pruned model: %v", err)
			}
			if s := shapes["logits"]; !tensor.SameShape(s, []int{2, 10}) {
				t.Errorf("inferred logits shape %v, want [2 10]", s)
			}
		})
	}
}
