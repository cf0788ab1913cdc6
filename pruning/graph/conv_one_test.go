package graph

import (
	"context"
	"fmt"
	"math/rand/v2"
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
		want, err := plain.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fused.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, got["y"].Data, want["y"].Data, 1e-4)
	}
}
