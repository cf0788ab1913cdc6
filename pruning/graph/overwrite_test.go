package graph

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestBackwardOverwritesMatchAccumulation checks that letting the first writer of an
// activation gradient overwrite it (Relu, BatchNormalization and Add here) gives the
// gradients of clearing every buffer and accumulating, on a residual block, over two
// steps in a row (a buffer that is neither cleared nor fully overwritten would carry
// the first step's values into the second).
func TestBackwardOverwritesMatchAccumulation(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	g := New("block", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 3, 6, 6}}}
	g.Params["w0"], g.Params["w1"], g.Params["w2"] = randT(r, 4, 3, 3, 3), randT(r, 4, 4, 3, 3), randT(r, 4, 4, 3, 3)
	g.Params["s"], g.Params["b"], g.Params["m"], g.Params["v"] = posT(r, 4), randT(r, 4), tensor.New(4), posT(r, 4)
	g.Params["fw"], g.Params["fb"] = randT(r, 5, 4*6*6), randT(r, 5)
	pad1 := map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}
	g.Nodes = []*Node{
		{Name: "conv0", Op: "Conv", Inputs: []string{"x", "w0"}, Outputs: []string{"c0"}, Attrs: pad1},
		{Name: "relu0", Op: "Relu", Inputs: []string{"c0"}, Outputs: []string{"a0"}},
		{Name: "conv1", Op: "Conv", Inputs: []string{"a0", "w1"}, Outputs: []string{"c1"}, Attrs: pad1},
		{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c1", "s", "b", "m", "v"}, Outputs: []string{"n1"}},
		{Name: "relu1", Op: "Relu", Inputs: []string{"n1"}, Outputs: []string{"a1"}},
		{Name: "conv2", Op: "Conv", Inputs: []string{"a1", "w2"}, Outputs: []string{"c2"}, Attrs: pad1},
		{Name: "add", Op: "Add", Inputs: []string{"c2", "a0"}, Outputs: []string{"sum"}},
		{Name: "sub", Op: "Sub", Inputs: []string{"sum", "a1"}, Outputs: []string{"d"}},
		{Name: "relu2", Op: "Relu", Inputs: []string{"d"}, Outputs: []string{"a2"}},
		{Name: "flat", Op: "Flatten", Inputs: []string{"a2"}, Outputs: []string{"f"}},
		{Name: "fc", Op: "Gemm", Inputs: []string{"f", "fw", "fb"}, Outputs: []string{"y"}, Attrs: map[string]Attr{"transB": IntAttr(1)}},
	}
	g.Outputs = []Value{{Name: "y"}}
	in := map[string]*tensor.Tensor{"x": randT(r, 2, 3, 6, 6)}
	gy := map[string]*tensor.Tensor{"y": randT(r, 2, 5)}
	grads := func(overwrite bool) map[string][]float32 {
		ex, err := Compile(g, WithTraining(true))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string][]float32
		for step := 0; step < 2; step++ {
			if _, err := ex.Forward(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if !overwrite {
				clear(ex.last.over)
				clear(ex.last.noClear)
			} else if step == 0 {
				n := 0
				for _, nc := range ex.last.noClear {
					if nc {
						n++
					}
				}
				if n < 5 {
					t.Fatalf("only %d gradients skip the clear, want at least 5 (relu0, bn, relu1, add, sub outputs...)", n)
				}
			}
			if err := ex.Backward(context.Background(), gy); err != nil {
				t.Fatal(err)
			}
			out = map[string][]float32{}
			for name, gr := range ex.Grads() {
				out[name] = append([]float32(nil), gr.Data...)
			}
		}
		return out
	}
	want, got := grads(false), grads(true)
	for name, w := range want {
		closeTo(t, got[name], w, 1e-5)
	}
}

// TestTrainingBNReluMatchesSeparate checks a training executor whose
// BatchNormalization computes the Relu after it against one running both nodes, for
// Forward outputs, gradients and running statistics, in training Forward and in Run.
func TestTrainingBNReluMatchesSeparate(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	build := func() *Graph {
		r := rand.New(rand.NewPCG(25, 26)) // same parameters for both executors
		g := New("bnrelu", 13)
		g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 2, 5, 5}}}
		g.Params["w"], g.Params["s"], g.Params["b"], g.Params["m"], g.Params["v"] = randT(r, 3, 2, 3, 3), posT(r, 3), randT(r, 3), randT(r, 3), posT(r, 3)
		g.Params["fw"], g.Params["fb"] = randT(r, 4, 3*5*5), randT(r, 4)
		g.Nodes = []*Node{
			{Name: "conv", Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
			{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c", "s", "b", "m", "v"}, Outputs: []string{"n"}},
			{Name: "relu", Op: "Relu", Inputs: []string{"n"}, Outputs: []string{"a"}},
			{Name: "flat", Op: "Flatten", Inputs: []string{"a"}, Outputs: []string{"f"}},
			{Name: "fc", Op: "Gemm", Inputs: []string{"f", "fw", "fb"}, Outputs: []string{"y"}, Attrs: map[string]Attr{"transB": IntAttr(1)}},
		}
		g.Outputs = []Value{{Name: "y"}}
		return g
	}
	gf, gs := build(), build()
	fused, err := Compile(gf, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	if !fused.reluInBN[2] {
		t.Fatal("the Relu is not computed by the BatchNormalization")
	}
	separate, err := Compile(gs, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	clear(separate.reluInBN)
	ctx := context.Background()
	for step := 0; step < 2; step++ {
		in := map[string]*tensor.Tensor{"x": randT(r, 3, 2, 5, 5)}
		gy := map[string]*tensor.Tensor{"y": randT(r, 3, 4)}
		for _, ex := range []*Executor{fused, separate} {
			if _, err := ex.Forward(ctx, in); err != nil {
				t.Fatal(err)
			}
			if err := ex.Backward(ctx, gy); err != nil {
				t.Fatal(err)
			}
		}
		for name, w := range separate.Grads() {
			closeTo(t, fused.Grads()[name].Data, w.Data, 1e-5)
		}
		for _, name := range []string{"m", "v"} {
			closeTo(t, gf.Params[name].Data, gs.Params[name].Data, 1e-6)
		}
		want, err := separate.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fused.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, got["y"].Data, want["y"].Data, 1e-5)
	}
}
