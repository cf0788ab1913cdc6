package graph

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// fcChain is a three-layer perceptron 37 → 29 → 13 → 5 with Relu after the first two
// Gemms, whose C inputs take the form given (1-D bias, a (1, n) row, none) and whose
// beta and alpha may differ from 1 (the fused few-sample path then steps aside). Its
// weights have the given fraction of zeros.
func fcChain(r *rand.Rand, cForm string, alpha, beta float32, zeros float64) *Graph {
	g := New("fc-chain", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 37}}}
	dims := []int{37, 29, 13, 5}
	x := "x"
	for l := range 3 {
		in, out := dims[l], dims[l+1]
		w, b := fmt.Sprintf("w%d", l), fmt.Sprintf("b%d", l)
		g.Params[w] = prunedT(r, zeros, out, in)
		inputs := []string{x, w}
		switch cForm {
		case "bias":
			g.Params[b] = randT(r, out)
			inputs = append(inputs, b)
		case "row":
			g.Params[b] = randT(r, 1, out)
			inputs = append(inputs, b)
		}
		h := fmt.Sprintf("h%d", l)
		g.Nodes = append(g.Nodes, &Node{Name: fmt.Sprintf("fc%d", l), Op: "Gemm", Inputs: inputs, Outputs: []string{h},
			Attrs: map[string]Attr{"transB": IntAttr(1), "alpha": FloatAttr(alpha), "beta": FloatAttr(beta)}})
		x = h
		if l < 2 {
			a := fmt.Sprintf("a%d", l)
			g.Nodes = append(g.Nodes, &Node{Name: fmt.Sprintf("relu%d", l), Op: "Relu", Inputs: []string{h}, Outputs: []string{a}})
			x = a
		}
	}
	g.Nodes[len(g.Nodes)-1].Outputs = []string{"y"}
	g.Outputs = []Value{{Name: "y", Shape: []int{DynamicDim, 5}}}
	return g
}

// refChain is fcChain's forward in float64.
func refChain(g *Graph, x *tensor.Tensor, alpha, beta float64) []float32 {
	batch := x.Shape[0]
	dims := []int{37, 29, 13, 5}
	act := make([]float64, len(x.Data))
	for i, v := range x.Data {
		act[i] = float64(v)
	}
	for l := range 3 {
		in, out := dims[l], dims[l+1]
		w := g.Params[fmt.Sprintf("w%d", l)].Data
		b := g.Params[fmt.Sprintf("b%d", l)]
		next := make([]float64, batch*out)
		for s := range batch {
			for j := range out {
				v := 0.0
				for p := range in {
					v += act[s*in+p] * float64(w[j*in+p])
				}
				v *= alpha
				if b != nil {
					v += beta * float64(b.Data[j])
				}
				if l < 2 {
					v = math.Max(v, 0)
				}
				next[s*out+j] = v
			}
		}
		act = next
	}
	y := make([]float32, len(act))
	for i, v := range act {
		y[i] = float32(v)
	}
	return y
}

// TestFullyConnectedFusion checks the inference forward of fully connected layers,
// whose bias and Relu run inside the product at batches up to three (dense and CSR),
// against a float64 reference, and against the unfused training-mode forward (Gemm,
// then a Relu node): bitwise for the dense layers, within 1e-5 for the CSR ones.
func TestFullyConnectedFusion(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		cForm       string
		alpha, beta float32
	}{{"bias", 1, 1}, {"row", 1, 1}, {"none", 1, 1}, {"bias", 1, 0.5}, {"bias", 2, 1}, {"bias", 1, 0}} {
		g := fcChain(r, c.cForm, c.alpha, c.beta, 0.7)
		plain, err := Compile(g, WithTraining(true))
		if err != nil {
			t.Fatal(err)
		}
		fused, err := Compile(g, WithConstantWeights(true))
		if err != nil {
			t.Fatal(err)
		}
		sparse, err := Compile(g, withForcedSparse(), WithConstantWeights(true))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(sparse.SparseNodes()); n != 3 {
			t.Fatalf("%v: %d sparse nodes, want 3", c, n)
		}
		for _, batch := range []int{1, 2, 3, 4, 9} {
			what := fmt.Sprintf("C %s alpha %v beta %v batch %d", c.cForm, c.alpha, c.beta, batch)
			in := map[string]*tensor.Tensor{"x": randT(r, batch, 37)}
			want := refChain(g, in["x"], float64(c.alpha), float64(c.beta))
			unfused, err := plain.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fused.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, got["y"].Data, want, 1e-4)
			if !slices.Equal(got["y"].Data, unfused["y"].Data) {
				t.Fatalf("%s: fused %v, unfused %v", what, got["y"].Data, unfused["y"].Data)
			}
			gotS, err := sparse.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range gotS["y"].Data {
				u := unfused["y"].Data[i]
				if d := math.Abs(float64(v - u)); d > 1e-5*math.Max(1, math.Abs(float64(u))) {
					t.Fatalf("%s: CSR y[%d] = %v, unfused dense %v", what, i, v, u)
				}
			}
		}
	}
}

// TestConstantWeightsRebindsInputs checks that an executor compiled WithConstantWeights,
// which binds its parameters once per plan, still reads each run's own input tensors:
// runs alternating between inputs and batch sizes give what a fresh executor gives.
func TestConstantWeightsRebindsInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	g := fcChain(r, "bias", 1, 1, 0)
	ex, err := Compile(g, WithConstantWeights(true))
	if err != nil {
		t.Fatal(err)
	}
	ins := []*tensor.Tensor{randT(r, 1, 37), randT(r, 1, 37), randT(r, 2, 37), randT(r, 1, 37)}
	for round := range 2 {
		for i, x := range ins {
			fresh, err := Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got["y"].Data, want["y"].Data) {
				t.Fatalf("round %d input %d: got %v, want %v", round, i, got["y"].Data, want["y"].Data)
			}
		}
	}
	if _, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": randT(r, 1, 36)}); err == nil {
		t.Fatal("a run with 36 features instead of 37 did not fail")
	}
}

// TestInputViews checks the Flatten and Identity of a graph input that an inference
// executor runs as views of the input's data: each run reads its own input, the
// results match a training-compiled executor (which copies), and no input, this run's
// or an earlier one's, is written, through the returned outputs or otherwise.
func TestInputViews(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	g := New("views", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 1, 4, 4}}}
	g.Params["w"], g.Params["b"] = randT(r, 3, 16), randT(r, 3)
	g.Nodes = []*Node{
		{Name: "flat", Op: "Flatten", Inputs: []string{"x"}, Outputs: []string{"f"}},
		{Name: "fc", Op: "Gemm", Inputs: []string{"f", "w", "b"}, Outputs: []string{"h"}, Attrs: map[string]Attr{"transB": IntAttr(1)}},
		{Name: "relu", Op: "Relu", Inputs: []string{"h"}, Outputs: []string{"y"}},
		{Name: "id", Op: "Identity", Inputs: []string{"x"}, Outputs: []string{"same"}},
	}
	g.Outputs = []Value{{Name: "y"}, {Name: "same"}}
	ex, err := Compile(g, WithConstantWeights(true))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Compile(g, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]*tensor.Tensor
	xs := []*tensor.Tensor{randT(r, 1, 1, 4, 4), randT(r, 1, 1, 4, 4), randT(r, 3, 1, 4, 4), randT(r, 1, 1, 4, 4)}
	var keep [][]float32
	for _, x := range xs {
		keep = append(keep, slices.Clone(x.Data))
	}
	for i, x := range xs {
		in := map[string]*tensor.Tensor{"x": x}
		want, got := runBoth(t, plain, ex, in)
		for _, name := range []string{"y", "same"} {
			if !slices.Equal(got[name].Data, want[name].Data) {
				t.Fatalf("run %d, %s: got %v, want %v", i, name, got[name].Data, want[name].Data)
			}
		}
		got["same"].Data[0] += 1
		for j, x := range xs {
			if !slices.Equal(x.Data, keep[j]) {
				t.Fatalf("after run %d: input %d changed", i, j)
			}
		}
		if first == nil {
			first = got
			first["same"].Data[0] -= 1
			continue
		}
		if slices.Equal(first["same"].Data, got["same"].Data) {
			t.Fatalf("run %d returned the first run's Identity output", i)
		}
	}
}
