package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestConvHandoff runs ResNet blocks (conv1, BatchNormalization, Relu, conv2,
// BatchNormalization, the shortcut added, Relu) at batch 1 against the unfused
// training executor: conv1 writes straight into conv2's padded plane (each run, new
// inputs, so stale padding would show), at 28×28, 14×14 (wq 15: GEMM rows spilling
// past a plane) and 7×7, and from a stride-2 conv1 (with a 1×1 projection shortcut);
// at batch 2 it does not, and the outputs still match.
func TestConvHandoff(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []struct{ c, mid, h, stride int }{{4, 12, 28, 1}, {12, 4, 28, 1}, {8, 24, 14, 1}, {24, 8, 7, 1}, {4, 24, 28, 2}, {16, 8, 15, 2}} {
		name := fmt.Sprintf("%+v", tc)
		g := New("block", 13)
		g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, tc.c, tc.h, tc.h}}}
		out := tc.c
		if tc.stride > 1 {
			out = tc.mid
		}
		g.Params["w1"], g.Params["w2"] = randT(r, tc.mid, tc.c, 3, 3), randT(r, out, tc.mid, 3, 3)
		for _, bn := range []struct {
			name string
			c    int
		}{{"bn1", tc.mid}, {"bn2", out}} {
			g.Params[bn.name+".s"], g.Params[bn.name+".b"], g.Params[bn.name+".m"], g.Params[bn.name+".v"] = randT(r, bn.c), randT(r, bn.c), randT(r, bn.c), posT(r, bn.c)
		}
		pad1 := map[string]Attr{"pads": IntsAttr(1, 1, 1, 1), "strides": IntsAttr(int64(tc.stride), int64(tc.stride))}
		bnNode := func(name, in, out string) *Node {
			return &Node{Name: name, Op: "BatchNormalization", Inputs: []string{in, name + ".s", name + ".b", name + ".m", name + ".v"}, Outputs: []string{out}}
		}
		short := "x"
		g.Nodes = []*Node{
			{Name: "conv1", Op: "Conv", Inputs: []string{"x", "w1"}, Outputs: []string{"c1"}, Attrs: pad1},
			bnNode("bn1", "c1", "n1"),
			{Name: "relu1", Op: "Relu", Inputs: []string{"n1"}, Outputs: []string{"a1"}},
			{Name: "conv2", Op: "Conv", Inputs: []string{"a1", "w2"}, Outputs: []string{"c2"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
			bnNode("bn2", "c2", "n2"),
		}
		if tc.stride > 1 {
			g.Params["wd"] = randT(r, out, tc.c, 1, 1)
			g.Nodes = append(g.Nodes, &Node{Name: "down", Op: "Conv", Inputs: []string{"x", "wd"}, Outputs: []string{"d"}, Attrs: map[string]Attr{"strides": IntsAttr(2, 2)}})
			short = "d"
		}
		g.Nodes = append(g.Nodes,
			&Node{Name: "add", Op: "Add", Inputs: []string{"n2", short}, Outputs: []string{"s"}},
			&Node{Name: "relu2", Op: "Relu", Inputs: []string{"s"}, Outputs: []string{"y"}})
		g.Outputs = []Value{{Name: "y"}}
		plain, err := Compile(g, WithTraining(true))
		if err != nil {
			t.Fatal(err)
		}
		for _, constant := range []bool{true, false} {
			fused, err := Compile(g, WithThreads(1), WithConstantWeights(constant), WithWinograd(false))
			if err != nil {
				t.Fatal(err)
			}
			for run, batch := range []int{1, 1, 1, 2, 1} {
				in := map[string]*tensor.Tensor{"x": randT(r, batch, tc.c, tc.h, tc.h)}
				want, got := runBoth(t, plain, fused, in)
				closeTo(t, got["y"].Data, want["y"].Data, 1e-4)
				conv1 := fused.recent.ops[0].(*convOp)
				switch handed := conv1.handoffs > 0; {
				case serialGemmTiles() && handed:
					t.Fatalf("%s: handed off with gonum's GEMM", name)
				case !serialGemmTiles() && batch == 1 && run >= 1 && (conv1.handTo == nil || !handed):
					t.Fatalf("%s constant=%v run %d: conv1 did not hand off (linked %v)", name, constant, run, conv1.handTo != nil)
				case batch > 1 && (conv1.handTo != nil || handed):
					t.Fatalf("%s: batch %d handed off", name, batch)
				}
			}
		}
	}
}

// TestConvHandoffChain runs three 3×3 convolutions in a row, each with its Relu (no
// shortcut): the middle one is handed its input and hands its output on in the same
// run.
func TestConvHandoffChain(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	g := New("chain", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 3, 12, 12}}}
	g.Params["w1"], g.Params["w2"], g.Params["w3"] = randT(r, 8, 3, 3, 3), randT(r, 12, 8, 3, 3), randT(r, 4, 12, 3, 3)
	g.Params["b1"], g.Params["b2"], g.Params["b3"] = randT(r, 8), randT(r, 12), randT(r, 4)
	pad1 := map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}
	in := "x"
	for i := 1; i <= 3; i++ {
		c, a := fmt.Sprintf("c%d", i), fmt.Sprintf("a%d", i)
		g.Nodes = append(g.Nodes,
			&Node{Name: "conv" + c[1:], Op: "Conv", Inputs: []string{in, "w" + c[1:], "b" + c[1:]}, Outputs: []string{c}, Attrs: pad1},
			&Node{Name: "relu" + c[1:], Op: "Relu", Inputs: []string{c}, Outputs: []string{a}})
		in = a
	}
	g.Outputs = []Value{{Name: in}}
	plain, err := Compile(g, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	fused, err := Compile(g, WithThreads(1), WithConstantWeights(true), WithWinograd(false))
	if err != nil {
		t.Fatal(err)
	}
	for run := range 4 {
		x := map[string]*tensor.Tensor{"x": randT(r, 1, 3, 12, 12)}
		want, got := runBoth(t, plain, fused, x)
		closeTo(t, got[in].Data, want[in].Data, 1e-4)
		if run > 0 && !serialGemmTiles() {
			for k, name := range []string{"conv1", "conv2"} {
				if o := fused.recent.ops[2*k].(*convOp); o.handoffs == 0 {
					t.Fatalf("run %d: %s did not hand off", run, name)
				}
			}
		}
	}
}
