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
