package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestWinogradConvMatchesPatchMatrix runs inference convolutions that planWinograd
// takes (ResNet-8's three 3×3 shapes, odd sizes, no or asymmetric padding, with and
// without bias, batch 1 and 3, 1 and 2 threads, with and without a fused
// BatchNormalization, shift, residual and Relu) as Winograd F(2×2, 3×3) and through
// the patch matrix, and compares. With gonum's sgemm (the purego build) Winograd is
// never taken: the convolution must still run, through the patch matrix, and agree.
func TestWinogradConvMatchesPatchMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	type shape struct {
		c, h, wd, m int
		pads        [4]int // top, left, bottom, right
	}
	shapes := []shape{
		{16, 28, 28, 16, [4]int{1, 1, 1, 1}},
		{32, 14, 14, 32, [4]int{1, 1, 1, 1}},
		{64, 7, 7, 64, [4]int{1, 1, 1, 1}},
		{4, 5, 7, 6, [4]int{1, 1, 1, 1}},
		{5, 5, 7, 7, [4]int{0, 0, 0, 0}},
		{4, 9, 6, 5, [4]int{0, 1, 2, 0}},
		{8, 2, 2, 3, [4]int{1, 1, 1, 1}},
		{7, 11, 13, 9, [4]int{2, 1, 1, 2}},
	}
	for _, sh := range shapes {
		for _, batch := range []int{1, 3} {
			for _, fused := range []int{0, 1, 2, 3} { // none; shift+relu; shift+residual+relu; BN+residual
				for _, bias := range []bool{false, true} {
					for _, threads := range []int{1, 2} {
						name := fmt.Sprintf("%+v/batch=%d/fused=%d/bias=%v/threads=%d", sh, batch, fused, bias, threads)
						t.Run(name, func(t *testing.T) {
							want, got := winogradBoth(t, rng, sh.c, sh.h, sh.wd, sh.m, sh.pads, batch, fused, bias, threads)
							for i := range want.Data {
								if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > 1e-4*(1+math.Abs(float64(want.Data[i]))) {
									t.Fatalf("y[%d] = %v by Winograd, %v by patch matrix", i, got.Data[i], want.Data[i])
								}
							}
						})
					}
				}
			}
		}
	}
}

// winogradBoth runs one convolution through the patch matrix and as Winograd on the
// same inputs and returns both outputs; it fails the test when planWinograd does not
// take the shape.
func winogradBoth(t *testing.T, rng *rand.Rand, c, h, wd, m int, pads [4]int, batch, fused int, bias bool, threads int) (want, got *tensor.Tensor) {
	t.Helper()
	in := []string{"x", "w"}
	if bias {
		in = append(in, "b")
	}
	n := &Node{Name: "c", Op: "Conv", Inputs: in, Outputs: []string{"y"}, Attrs: map[string]Attr{
		"kernel_shape": IntsAttr(3, 3),
		"pads":         IntsAttr(int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])),
	}}
	ins := []*tensor.Tensor{randT(rng, batch, c, h, wd), randT(rng, m, c, 3, 3)}
	shapes := [][]int{ins[0].Shape, ins[1].Shape}
	if bias {
		ins = append(ins, randT(rng, m))
		shapes = append(shapes, ins[2].Shape)
	}
	var ep *epilogue
	if fused > 0 {
		ep = &epilogue{bn: -1, add: -1, relu: 0}
		if fused == 3 {
			ep.bn, ep.relu = 0, -1
			ep.scale, ep.shift = randT(rng, m).Data, randT(rng, m).Data
		}
	}
	run := func(winograd bool) *tensor.Tensor {
		op, err := newConv(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		o := op.(*convOp)
		outs, err := o.infer(shapes)
		if err != nil {
			t.Fatal(err)
		}
		if !o.winograd {
			t.Fatalf("planWinograd did not take the shape")
		}
		o.shifted = false
		o.winoPick = winoFaster // (pickWinograd's timing is tested on its own)
		y := tensor.New(outs[0]...)
		if ep != nil {
			if fused >= 2 && ep.residual == nil {
				ep.add = 0
				ep.residual = randT(rng, y.Shape...).Data
			}
			o.setEpilogue(ep)
		}
		kernels.SetMaxThreads(threads)
		defer kernels.SetMaxThreads(0)
		r := &runState{threads: threads, constant: winograd, winograd: winograd, ws: &workspace{}}
		for range 2 { // the second run reuses the transformed filters
			clear(y.Data)
			o.forward(r, ins, []*tensor.Tensor{y})
		}
		if winograd && (o.wf != nil) == serialGemmTiles() {
			t.Fatalf("Winograd route ran %v with gonum's sgemm %v", o.wf != nil, serialGemmTiles())
		}
		return y
	}
	return run(false), run(true)
}

// TestPickWinograd checks that the first constant-weight run times both routes and
// settles on one, with the right output either way, and that a one-channel input
// (ResNet-8's stem) is not taken at all.
func TestPickWinograd(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	n := benchConvNode(3, 1, 1, true)
	x, w, bias := randT(rng, 1, 16, 14, 14), randT(rng, 16, 16, 3, 3), randT(rng, 16)
	o, outShape := plannedConv(t, n, x, w, bias)
	if !o.winograd {
		t.Fatal("planWinograd did not take a 16-channel 3×3 convolution")
	}
	in := []*tensor.Tensor{x, w, bias}
	want, got := tensor.New(outShape...), tensor.New(outShape...)
	o.forward(&runState{threads: 1, ws: &workspace{}}, in, []*tensor.Tensor{want})
	o.forward(&runState{threads: 1, constant: true, winograd: true, ws: &workspace{}}, in, []*tensor.Tensor{got})
	if serialGemmTiles() {
		if o.winoPick != winoUntimed {
			t.Errorf("winoPick = %d with gonum's GEMM, want untimed", o.winoPick)
		}
	} else if o.winoPick != winoFaster && o.winoPick != winoSlower {
		t.Errorf("winoPick = %d after the first constant run, want a choice", o.winoPick)
	}
	for i := range want.Data {
		if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > 1e-4*(1+math.Abs(float64(want.Data[i]))) {
			t.Fatalf("y[%d] = %v after the choice, %v by patch matrix", i, got.Data[i], want.Data[i])
		}
	}

	stem, err := newConv(n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stem.infer([][]int{{1, 1, 28, 28}, {16, 1, 3, 3}, {16}}); err != nil {
		t.Fatal(err)
	}
	if stem.(*convOp).winograd {
		t.Error("planWinograd took a one-channel convolution")
	}
}

// TestWinogradResidualBlock runs a ResNet basic block (two 3×3 convolutions with
// BatchNormalization and Relu, the second with the identity added before its Relu)
// compiled with constant weights and Winograd forced, against the default executor,
// at batch 1 and 3 on 1 and 2 threads.
func TestWinogradResidualBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	g := New("block", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 16, 14, 14}}}
	g.Params["w1"], g.Params["w2"] = randT(r, 16, 16, 3, 3), randT(r, 16, 16, 3, 3)
	for _, p := range []string{"1", "2"} {
		g.Params["s"+p], g.Params["b"+p], g.Params["m"+p], g.Params["v"+p] = randT(r, 16), randT(r, 16), randT(r, 16), posT(r, 16)
	}
	pads := map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}
	g.Nodes = []*Node{
		{Name: "conv1", Op: "Conv", Inputs: []string{"x", "w1"}, Outputs: []string{"c1"}, Attrs: pads},
		{Name: "bn1", Op: "BatchNormalization", Inputs: []string{"c1", "s1", "b1", "m1", "v1"}, Outputs: []string{"n1"}},
		{Name: "relu1", Op: "Relu", Inputs: []string{"n1"}, Outputs: []string{"a1"}},
		{Name: "conv2", Op: "Conv", Inputs: []string{"a1", "w2"}, Outputs: []string{"c2"}, Attrs: pads},
		{Name: "bn2", Op: "BatchNormalization", Inputs: []string{"c2", "s2", "b2", "m2", "v2"}, Outputs: []string{"n2"}},
		{Name: "add", Op: "Add", Inputs: []string{"n2", "x"}, Outputs: []string{"s"}},
		{Name: "relu2", Op: "Relu", Inputs: []string{"s"}, Outputs: []string{"y"}},
	}
	g.Outputs = []Value{{Name: "y"}}
	for _, threads := range []int{1, 2} {
		plain, err := Compile(g, WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		wino, err := Compile(g, WithThreads(threads), WithConstantWeights(true), withForcedWinograd())
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{1, 3} {
			in := map[string]*tensor.Tensor{"x": randT(r, batch, 16, 14, 14)}
			for range 2 { // the second run reuses the transformed filters
				want, got := runBoth(t, plain, wino, in)
				closeTo(t, got["y"].Data, want["y"].Data, 1e-4)
			}
		}
		if serialGemmTiles() {
			continue // (no packed kernels: no Winograd)
		}
		ran := 0
		for _, p := range wino.plans {
			for _, op := range p.ops {
				if o, ok := op.(*convOp); ok && o.wf != nil && o.winoPick == winoFaster {
					ran++
				}
			}
		}
		if ran != 4 { // two convolutions, two batch sizes
			t.Errorf("threads %d: %d convolutions ran as Winograd, want 4", threads, ran)
		}
	}
}
