package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// viewGraph is what torch.onnx.export (opset 13, dynamic batch) makes of
// x.view(x.size(0), -1) on a (N, 3, 4) input, followed by a Relu.
func viewGraph(index float32, tail float32) *Graph {
	g := New("view", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 3, 4}}}
	g.Params["axes"] = constT(0)
	g.Params["tail"] = constT(tail)
	g.Nodes = []*Node{
		{Name: "shape", Op: "Shape", Inputs: []string{"x"}, Outputs: []string{"s"}},
		{Name: "c0", Op: "Constant", Outputs: []string{"i0"}, Attrs: map[string]Attr{"value": {Kind: AttrTensor, Tensor: tensor.FromData([]float32{index})}}},
		{Name: "gather", Op: "Gather", Inputs: []string{"s", "i0"}, Outputs: []string{"n"}, Attrs: map[string]Attr{"axis": IntAttr(0)}},
		{Name: "unsq", Op: "Unsqueeze", Inputs: []string{"n", "axes"}, Outputs: []string{"n1"}},
		{Name: "cat", Op: "Concat", Inputs: []string{"n1", "tail"}, Outputs: []string{"target"}, Attrs: map[string]Attr{"axis": IntAttr(0)}},
		{Name: "reshape", Op: "Reshape", Inputs: []string{"x", "target"}, Outputs: []string{"flat"}},
		{Name: "relu", Op: "Relu", Inputs: []string{"flat"}, Outputs: []string{"y"}},
	}
	g.Outputs = []Value{{Name: "y"}}
	return g
}

func TestFoldShapesRewritesTorchView(t *testing.T) {
	g := viewGraph(0, -1)
	n, err := FoldShapes(g)
	if err != nil || n != 1 {
		t.Fatalf("FoldShapes: %d rewritten, %v; want 1, nil", n, err)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Op != "Reshape" || g.Nodes[1].Op != "Relu" {
		var ops []string
		for _, n := range g.Nodes {
			ops = append(ops, n.Op)
		}
		t.Fatalf("nodes after folding %v, want [Reshape Relu]", ops)
	}
	shape := g.Params[g.Nodes[0].Inputs[1]]
	if shape == nil || !tensor.SameShape(shape.Shape, []int{2}) || shape.Data[0] != 0 || shape.Data[1] != -1 {
		t.Fatalf("shape parameter %v, want [0 -1]", shape)
	}
	if _, ok := g.Params["axes"]; ok {
		t.Error("the Unsqueeze axes parameter survived its node")
	}
	ex, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(5, 3, 4)
	out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Shape; !tensor.SameShape(got, []int{5, 12}) {
		t.Errorf("output shape %v, want [5 12]", got)
	}
}

func TestFoldShapesLeavesWhatItCannotProve(t *testing.T) {
	// x.view(x.size(1), -1): dimension 1 of x at position 0 is not a copy.
	g := viewGraph(1, -1)
	n, err := FoldShapes(g)
	if err != nil || n != 0 {
		t.Fatalf("got %d rewritten, %v; want 0, nil", n, err)
	}
	if len(g.Nodes) != 7 {
		t.Errorf("graph changed: %d nodes, want 7", len(g.Nodes))
	}
	if _, err := Compile(g); err == nil || !strings.Contains(err.Error(), `node "shape" (Shape): supported only in a Reshape shape computation`) {
		t.Fatalf("Compile: got %v, want the fold-only Shape error", err)
	}
}

func TestCompileFoldsShapeChains(t *testing.T) {
	g := viewGraph(0, -1)
	ex, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 {
		t.Errorf("Compile left %d nodes, want the folded 2", len(g.Nodes))
	}
	out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(2, 3, 4)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Shape; !tensor.SameShape(got, []int{2, 12}) {
		t.Errorf("output shape %v, want [2 12]", got)
	}
}
