package graph

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestConvOneSampleSplits checks batch-1 convolutions large enough to spread over
// threads (above minParallelMACs) against the definition, for 1 to 4 threads: row
// blocks over threads, one output row, groups and strides, with bias.
func TestConvOneSampleSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		x, w        []int
		s, p, group int
	}{
		{x: []int{1, 16, 28, 28}, w: []int{16, 16, 3, 3}, s: 1, p: 1, group: 1},
		{x: []int{1, 16, 28, 28}, w: []int{32, 16, 3, 3}, s: 2, p: 1, group: 1},
		{x: []int{1, 64, 7, 7}, w: []int{64, 64, 3, 3}, s: 1, p: 1, group: 1},
		{x: []int{1, 16, 3, 130}, w: []int{64, 16, 3, 3}, s: 1, p: 0, group: 1}, // one output row
		{x: []int{1, 32, 20, 20}, w: []int{48, 16, 3, 3}, s: 1, p: 1, group: 2},
	}
	for _, tt := range tests {
		x, w, b := randT(r, tt.x...), randT(r, tt.w...), randT(r, tt.w[0])
		want := naiveConv(x, w, b, tt.s, tt.s, 1, 1, tt.p, tt.p, tt.p, tt.p, tt.group)
		for _, threads := range []int{1, 2, 3, 4} {
			t.Run(fmt.Sprintf("x%v w%v threads=%d", tt.x, tt.w, threads), func(t *testing.T) {
				n := &Node{Name: "c", Op: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: map[string]Attr{
					"strides": IntsAttr(int64(tt.s), int64(tt.s)),
					"pads":    IntsAttr(int64(tt.p), int64(tt.p), int64(tt.p), int64(tt.p)),
					"group":   IntAttr(int64(tt.group)),
				}}
				o, err := newConv(n, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := o.infer([][]int{x.Shape, w.Shape, b.Shape}); err != nil {
					t.Fatal(err)
				}
				y := tensor.New(want.Shape...)
				o.forward(&runState{threads: threads, ws: &workspace{}}, []*tensor.Tensor{x, w, b}, []*tensor.Tensor{y})
				closeTo(t, y.Data, want.Data, 1e-4)
			})
		}
	}
}

// TestConvFusedBatch1 compares a fused Conv (with bias, merged into the
// BatchNormalization's shift) + BatchNormalization + Relu at batch 1, large enough to
// spread over threads, with the unfused executor.
func TestConvFusedBatch1(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	g := New("fuse1", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 16, 28, 28}}}
	g.Params["w"], g.Params["cb"] = randT(r, 32, 16, 3, 3), randT(r, 32)
	g.Params["s"], g.Params["b"], g.Params["m"], g.Params["v"] = randT(r, 32), randT(r, 32), randT(r, 32), posT(r, 32)
	g.Nodes = []*Node{
		{Name: "conv", Op: "Conv", Inputs: []string{"x", "w", "cb"}, Outputs: []string{"c"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
		{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c", "s", "b", "m", "v"}, Outputs: []string{"n"}},
		{Name: "relu", Op: "Relu", Inputs: []string{"n"}, Outputs: []string{"y"}},
	}
	g.Outputs = []Value{{Name: "y"}}
	for _, threads := range []int{1, 2, 3} {
		fused, err := Compile(g, WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		if !fused.absorbed[1] || !fused.absorbed[2] {
			t.Fatalf("bn and relu not fused: absorbed %v", fused.absorbed)
		}
		plain, err := Compile(g, WithThreads(threads), WithTraining(true))
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]*tensor.Tensor{"x": randT(r, 1, 16, 28, 28)}
		want, got := runBoth(t, plain, fused, in)
		closeTo(t, got["y"].Data, want["y"].Data, 1e-4)
	}
}

// TestResidualAddFusion checks that an inference executor fuses a ResNet block's
// residual Add and the Relu after it into the Conv that finishes last (the second conv
// for an identity shortcut, the projection for a projected one), leaves a
// broadcasting Add alone, and computes what the unfused executor does.
func TestResidualAddFusion(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	g := New("block", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 4, 6, 6}}}
	bn := func(name string, c int) {
		g.Params[name+".s"], g.Params[name+".b"], g.Params[name+".m"], g.Params[name+".v"] = randT(r, c), randT(r, c), randT(r, c), posT(r, c)
	}
	bnNode := func(name, in, out string) *Node {
		return &Node{Name: name, Op: "BatchNormalization", Inputs: []string{in, name + ".s", name + ".b", name + ".m", name + ".v"}, Outputs: []string{out}}
	}
	pad1 := map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}
	g.Params["w1"], g.Params["w2"], g.Params["w3"], g.Params["w4"], g.Params["wd"] = randT(r, 4, 4, 3, 3), randT(r, 4, 4, 3, 3), randT(r, 8, 4, 3, 3), randT(r, 8, 8, 3, 3), randT(r, 8, 4, 1, 1)
	g.Params["b4"] = randT(r, 8)
	for _, name := range []string{"bn1", "bn2", "bn3", "bn4", "bnd"} {
		c := 4
		if name == "bn3" || name == "bn4" || name == "bnd" {
			c = 8
		}
		bn(name, c)
	}
	g.Nodes = []*Node{
		// Identity shortcut: conv1, bn1, relu, conv2, bn2, add(x), relu.
		{Name: "conv1", Op: "Conv", Inputs: []string{"x", "w1"}, Outputs: []string{"c1"}, Attrs: pad1},
		bnNode("bn1", "c1", "n1"),
		{Name: "relu1", Op: "Relu", Inputs: []string{"n1"}, Outputs: []string{"a1"}},
		{Name: "conv2", Op: "Conv", Inputs: []string{"a1", "w2"}, Outputs: []string{"c2"}, Attrs: pad1},
		bnNode("bn2", "c2", "n2"),
		{Name: "add1", Op: "Add", Inputs: []string{"n2", "x"}, Outputs: []string{"s1"}},
		{Name: "relu2", Op: "Relu", Inputs: []string{"s1"}, Outputs: []string{"a2"}},
		// Projected shortcut, computed after the main branch: the Add fuses into it.
		{Name: "conv3", Op: "Conv", Inputs: []string{"a2", "w3"}, Outputs: []string{"c3"}, Attrs: pad1},
		bnNode("bn3", "c3", "n3"),
		{Name: "relu3", Op: "Relu", Inputs: []string{"n3"}, Outputs: []string{"a3"}},
		{Name: "conv4", Op: "Conv", Inputs: []string{"a3", "w4", "b4"}, Outputs: []string{"c4"}, Attrs: pad1},
		bnNode("bn4", "c4", "n4"),
		{Name: "down", Op: "Conv", Inputs: []string{"a2", "wd"}, Outputs: []string{"cd"}},
		bnNode("bnd", "cd", "nd"),
		{Name: "add2", Op: "Add", Inputs: []string{"n4", "nd"}, Outputs: []string{"s2"}},
		{Name: "relu4", Op: "Relu", Inputs: []string{"s2"}, Outputs: []string{"a4"}},
		// A broadcasting Add (N,8,6,6) + (N,8,1,1) stays a node.
		{Name: "gap", Op: "GlobalAveragePool", Inputs: []string{"a4"}, Outputs: []string{"p"}},
		{Name: "conv5", Op: "Conv", Inputs: []string{"a4", "w4"}, Outputs: []string{"c5"}, Attrs: pad1},
		{Name: "add3", Op: "Add", Inputs: []string{"c5", "p"}, Outputs: []string{"y"}},
	}
	g.Outputs = []Value{{Name: "y"}}
	fused, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	var absorbed []string
	for k, a := range fused.absorbed {
		if a {
			absorbed = append(absorbed, fused.nodes[k].node.Name)
		}
	}
	if got, want := strings.Join(absorbed, ","), "bn1,relu1,bn2,add1,relu2,bn3,relu3,bn4,bnd,add2,relu4"; got != want {
		t.Errorf("absorbed nodes %s, want %s", got, want)
	}
	plain, err := Compile(g, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 3} {
		in := map[string]*tensor.Tensor{"x": randT(r, batch, 4, 6, 6)}
		want, got := runBoth(t, plain, fused, in)
		closeTo(t, got["y"].Data, want["y"].Data, 1e-4)
	}
}

// TestConvGradAsConvMatchesAdjoint checks the input gradient computed as a
// convolution with the flipped, transposed filters against the adjoint route (GEMM
// into a patch matrix, col2im), on the ResNet-8 shapes that take it and odd ones.
func TestConvGradAsConvMatchesAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tt := range []struct {
		x, w []int
		pads []int64
	}{
		{x: []int{3, 16, 28, 28}, w: []int{16, 16, 3, 3}, pads: []int64{1, 1, 1, 1}},
		{x: []int{2, 32, 14, 14}, w: []int{32, 32, 3, 3}, pads: []int64{1, 1, 1, 1}},
		{x: []int{9, 3, 7, 6}, w: []int{2, 3, 3, 3}, pads: []int64{1, 1, 1, 1}},
		{x: []int{2, 4, 6, 7}, w: []int{4, 4, 5, 3}, pads: []int64{2, 0, 2, 2}},
	} {
		t.Run(fmt.Sprintf("x%v w%v pads%v", tt.x, tt.w, tt.pads), func(t *testing.T) {
			n := &Node{Name: "c", Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: map[string]Attr{"pads": IntsAttr(tt.pads...)}}
			o, err := newConv(n, nil)
			if err != nil {
				t.Fatal(err)
			}
			x, w := randT(r, tt.x...), randT(r, tt.w...)
			outs, err := o.infer([][]int{x.Shape, w.Shape})
			if err != nil {
				t.Fatal(err)
			}
			c := o.(*convOp)
			if !c.gradAsConv {
				t.Fatalf("x%v w%v: input gradient not planned as a convolution", tt.x, tt.w)
			}
			gy := randT(r, outs[0]...)
			rs := &runState{training: true, threads: 2, ws: &workspace{}}
			in := []*tensor.Tensor{x, w}
			got, want := randT(r, tt.x...), tensor.New(tt.x...)
			copy(want.Data, got.Data) // gradients accumulate into what is there
			c.backward(rs, in, nil, []*tensor.Tensor{gy}, []*tensor.Tensor{got, nil})
			c.gradAsConv = false
			c.backward(rs, in, nil, []*tensor.Tensor{gy}, []*tensor.Tensor{want, nil})
			closeTo(t, got.Data, want.Data, 1e-4)
		})
	}
}

// TestConstantWeights checks WithConstantWeights: the same outputs as an executor that
// packs every run, and, where the packed kernels run (not gonum's, which packs
// nothing ahead), a snapshot of the filters taken at the first run, where the other
// executor follows a change.
func TestConstantWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	g := New("const", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 8, 12, 12}}}
	g.Params["w"] = randT(r, 16, 8, 3, 3)
	g.Params["s"], g.Params["b"], g.Params["m"], g.Params["v"] = randT(r, 16), randT(r, 16), randT(r, 16), posT(r, 16)
	g.Nodes = []*Node{
		{Name: "conv", Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
		{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c", "s", "b", "m", "v"}, Outputs: []string{"n"}},
		{Name: "relu", Op: "Relu", Inputs: []string{"n"}, Outputs: []string{"y"}},
	}
	g.Outputs = []Value{{Name: "y"}}
	constant, err := Compile(g, WithConstantWeights(true))
	if err != nil {
		t.Fatal(err)
	}
	every, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := map[string]*tensor.Tensor{"x": randT(r, 1, 8, 12, 12)}
	run := func(ex *Executor) []float32 {
		t.Helper()
		out, err := ex.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out["y"].Data)
	}
	first := run(constant)
	closeTo(t, run(constant), first, 0)
	closeTo(t, run(every), first, 0)
	for i := range g.Params["w"].Data {
		g.Params["w"].Data[i] *= 2
	}
	if !serialGemmTiles() {
		// The packed kernels run: the filters were packed once, at the first run.
		closeTo(t, run(constant), first, 0)
	}
	changed := run(every)
	same := true
	for i := range changed {
		if changed[i] != first[i] {
			same = false
		}
	}
	if same {
		t.Error("the executor without WithConstantWeights did not follow the weight change")
	}
}
