package graph

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// prunedT is random with the given fraction of exact zeros.
func prunedT(r *rand.Rand, zeros float64, shape ...int) *tensor.Tensor {
	t := randT(r, shape...)
	for i := range t.Data {
		if r.Float64() < zeros {
			t.Data[i] = 0
		}
	}
	return t
}

func TestSparseMatchesDense(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	tests := []gradCase{
		{name: "Gemm transB", op: "Gemm", attrs: map[string]Attr{"transB": IntAttr(1), "beta": FloatAttr(0.5)}, inputs: []*tensor.Tensor{randT(r, 3, 20), prunedT(r, 0.8, 7, 20), randT(r, 7)}},
		{name: "Gemm", op: "Gemm", attrs: map[string]Attr{"alpha": FloatAttr(2)}, inputs: []*tensor.Tensor{randT(r, 1, 20), prunedT(r, 0.8, 20, 7)}},
		{name: "Gemm batch 1 with bias", op: "Gemm", inputs: []*tensor.Tensor{randT(r, 1, 20), prunedT(r, 0.8, 20, 7), randT(r, 7)}},
		{name: "MatMul", op: "MatMul", inputs: []*tensor.Tensor{randT(r, 2, 3, 20), prunedT(r, 0.8, 20, 7)}},
		{name: "Conv", op: "Conv", attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 6, 6), prunedT(r, 0.8, 5, 3, 3, 3), randT(r, 5)}},
		{name: "Conv grouped 1x1", op: "Conv", attrs: map[string]Attr{"group": IntAttr(2)}, inputs: []*tensor.Tensor{randT(r, 1, 4, 5, 5), prunedT(r, 0.7, 6, 2, 1, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := buildCase(tc)
			dense, err := Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			sparse, err := Compile(g, withForcedSparse())
			if err != nil {
				t.Fatal(err)
			}
			if got := sparse.SparseNodes(); len(got) != 1 {
				t.Fatalf("sparse nodes %v, want [n]", got)
			}
			if got := dense.SparseNodes(); len(got) != 0 {
				t.Fatalf("dense executor has sparse nodes %v", got)
			}
			in := map[string]*tensor.Tensor{"unused": tensor.New(1)}
			want, err := dense.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sparse.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, got["y"].Data, want["y"].Data, 1e-5)
			// The timed choice, whatever it picks, gives the same values.
			timed, err := Compile(g, WithSparse(true))
			if err != nil {
				t.Fatal(err)
			}
			got, err = timed.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, got["y"].Data, want["y"].Data, 1e-5)
		})
	}
}

func TestSparseSkipsDenseWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	g := buildCase(gradCase{name: "Gemm", op: "Gemm", attrs: map[string]Attr{"transB": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 3, 20), prunedT(r, 0.3, 7, 20)}})
	ex, err := Compile(g, withForcedSparse())
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.SparseNodes(); len(got) != 0 {
		t.Errorf("a 30%%-zero weight runs sparse: %v", got)
	}
}

// TestSparseChosenPerBatch checks that with WithSparse an input of another batch size
// than Compile's is timed again, dense against sparse, without disturbing the
// per-node timings the user accumulates, and gives the dense executor's values.
func TestSparseChosenPerBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	g := New("fc", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 300}}}
	g.Params["w"], g.Params["b"] = prunedT(r, 0.9, 100, 300), randT(r, 100)
	g.Nodes = []*Node{{Name: "fc", Op: "Gemm", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: map[string]Attr{"transB": IntAttr(1)}}}
	g.Outputs = []Value{{Name: "y"}}
	dense, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	sparse, err := Compile(g, WithSparse(true), WithTiming(true))
	if err != nil {
		t.Fatal(err)
	}
	if sparse.sparseCand == nil || sparse.sparseCand[0] == nil {
		t.Fatal("the 90%-zero weight is not a sparse candidate")
	}
	ctx := context.Background()
	for i, batch := range []int{1, 64, 64, 5} {
		in := map[string]*tensor.Tensor{"x": randT(r, batch, 300)}
		want, err := dense.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sparse.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, got["y"].Data, want["y"].Data, 1e-5)
		if calls := sparse.Timings()[0].Calls; calls != i+1 {
			t.Fatalf("after %d runs (batch %d) the node's timing counts %d calls", i+1, batch, calls)
		}
	}
}
