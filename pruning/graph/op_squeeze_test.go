package graph

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestSqueezeUnsqueeze checks the shapes of both operators in the attribute form
// (opset 11) and the input form (opset 13), that values pass through unchanged, and
// that bad axes give errors naming the node.
func TestSqueezeUnsqueeze(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	x := randT(r, 2, 1, 3, 1)
	tests := []struct {
		tc   gradCase
		want []int
	}{
		{gradCase{name: "Squeeze all ones", op: "Squeeze", inputs: []*tensor.Tensor{x}}, []int{2, 3}},
		{gradCase{name: "Squeeze attr", op: "Squeeze", opset: 11, attrs: map[string]Attr{"axes": IntsAttr(-1)}, inputs: []*tensor.Tensor{x}}, []int{2, 1, 3}},
		{gradCase{name: "Squeeze input", op: "Squeeze", opset: 13, inputs: []*tensor.Tensor{x, constT(1, 3)}}, []int{2, 3}},
		{gradCase{name: "Unsqueeze attr", op: "Unsqueeze", opset: 11, attrs: map[string]Attr{"axes": IntsAttr(0, 5)}, inputs: []*tensor.Tensor{x}}, []int{1, 2, 1, 3, 1, 1}},
		{gradCase{name: "Unsqueeze input negative", op: "Unsqueeze", opset: 13, inputs: []*tensor.Tensor{randT(r, 2, 3), constT(-1)}}, []int{2, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.tc.name, func(t *testing.T) {
			shapes, err := InferShapes(buildCase(tt.tc), 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := shapes["y"]; !tensor.SameShape(got, tt.want) {
				t.Errorf("shape %v, want %v", got, tt.want)
			}
			closeTo(t, runCase(t, tt.tc).Data, tt.tc.inputs[0].Data, 0)
		})
	}
	for _, bad := range []struct {
		tc   gradCase
		want string
	}{
		{gradCase{name: "squeeze a wide axis", op: "Squeeze", opset: 13, inputs: []*tensor.Tensor{x, constT(0)}}, "cannot squeeze axis 0 of size 2"},
		{gradCase{name: "axis out of range", op: "Unsqueeze", opset: 13, inputs: []*tensor.Tensor{x, constT(7)}}, "axis 7 out of range for rank 5"},
		{gradCase{name: "axis twice", op: "Unsqueeze", opset: 11, attrs: map[string]Attr{"axes": IntsAttr(0, -6)}, inputs: []*tensor.Tensor{x}}, "axis -6 given twice"},
		{gradCase{name: "no axes", op: "Unsqueeze", opset: 11, inputs: []*tensor.Tensor{x}}, "Unsqueeze needs axes"},
	} {
		t.Run(bad.tc.name, func(t *testing.T) {
			_, err := Compile(buildCase(bad.tc))
			if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "("+bad.tc.op+")") {
				t.Fatalf("got %v, want an error naming the node and %q", err, bad.want)
			}
		})
	}
}

// TestSqueezeGradient checks that gradients pass through an Unsqueeze-Squeeze pair
// unchanged, in training mode, and that the axes input is not trained.
func TestSqueezeGradient(t *testing.T) {
	g := New("sq", 13)
	g.Inputs = []Value{{Name: "unused", Shape: []int{1}}}
	g.Params["w"] = tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	g.Params["axes"] = constT(1)
	g.Nodes = []*Node{
		{Name: "un", Op: "Unsqueeze", Inputs: []string{"w", "axes"}, Outputs: []string{"u"}},
		{Name: "sq", Op: "Squeeze", Inputs: []string{"u", "axes"}, Outputs: []string{"y"}},
	}
	g.Outputs = []Value{{Name: "y", Shape: []int{2, 3}}}
	if g.Trainable("axes") || !g.Trainable("w") {
		t.Errorf("trainable: axes %v, w %v; want only w", g.Trainable("axes"), g.Trainable("w"))
	}
	ex, err := Compile(g, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := ex.Forward(ctx, map[string]*tensor.Tensor{"unused": tensor.New(1)})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, out["y"].Data, g.Params["w"].Data, 0)
	gy := tensor.FromData([]float32{0.5, -1, 2, 0, 3, -4}, 2, 3)
	if err := ex.Backward(ctx, map[string]*tensor.Tensor{"y": gy}); err != nil {
		t.Fatal(err)
	}
	gw := ex.Grads()["w"]
	if gw == nil {
		t.Fatal("no gradient for w")
	}
	closeTo(t, gw.Data, gy.Data, 0)
}
