package graph

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// gradCase is one operator under a finite-difference gradient check. Every input is a
// parameter, so the executor computes its gradient; frozen inputs (statistics, shapes)
// are checked only for not being trained.
type gradCase struct {
	name   string
	op     string
	opset  int64
	attrs  map[string]Attr
	inputs []*tensor.Tensor // nil entry: omitted optional input
}

func randT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		v := float32(0.1 + 0.9*r.Float64())
		if r.IntN(2) == 0 {
			v = -v
		}
		t.Data[i] = v
	}
	return t
}

func posT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := randT(r, shape...)
	for i, v := range t.Data {
		t.Data[i] = float32(math.Abs(float64(v))) + 0.5
	}
	return t
}

// distinctT holds well separated values, so that max and kinks are stable under ±eps.
func distinctT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	perm := r.Perm(t.Len())
	for i, p := range perm {
		t.Data[i] = float32(p-t.Len()/2)*0.05 + 0.025
	}
	return t
}

func constT(vals ...float32) *tensor.Tensor { return tensor.FromData(vals, len(vals)) }

func gradCases() []gradCase {
	r := rand.New(rand.NewPCG(7, 11))
	ints := func(v ...int64) Attr { return IntsAttr(v...) }
	return []gradCase{
		{name: "Gemm", op: "Gemm", inputs: []*tensor.Tensor{randT(r, 3, 4), randT(r, 4, 5), randT(r, 5)}},
		{name: "Gemm transB bias(1,N)", op: "Gemm", attrs: map[string]Attr{"transB": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 3, 4), randT(r, 5, 4), randT(r, 1, 5)}},
		{name: "Gemm transA alpha beta C(M,N)", op: "Gemm", attrs: map[string]Attr{"transA": IntAttr(1), "alpha": FloatAttr(0.5), "beta": FloatAttr(2)}, inputs: []*tensor.Tensor{randT(r, 4, 3), randT(r, 4, 5), randT(r, 3, 5)}},
		{name: "Gemm transA transB C(M,1)", op: "Gemm", attrs: map[string]Attr{"transA": IntAttr(1), "transB": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 4, 3), randT(r, 5, 4), randT(r, 3, 1)}},
		{name: "Gemm no C", op: "Gemm", inputs: []*tensor.Tensor{randT(r, 2, 3), randT(r, 3, 2)}},
		{name: "MatMul 2D", op: "MatMul", inputs: []*tensor.Tensor{randT(r, 3, 4), randT(r, 4, 2)}},
		{name: "MatMul 3Dx2D", op: "MatMul", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), randT(r, 4, 2)}},
		{name: "MatMul batched", op: "MatMul", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), randT(r, 2, 4, 2)}},
		{name: "Conv basic bias", op: "Conv", inputs: []*tensor.Tensor{randT(r, 2, 3, 5, 5), randT(r, 4, 3, 3, 3), randT(r, 4)}},
		{name: "Conv stride pads", op: "Conv", attrs: map[string]Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 2, 2, 6, 6), randT(r, 3, 2, 3, 3)}},
		{name: "Conv asymmetric pads stride 2x1", op: "Conv", attrs: map[string]Attr{"strides": ints(2, 1), "pads": ints(0, 1, 2, 0)}, inputs: []*tensor.Tensor{randT(r, 1, 2, 5, 6), randT(r, 2, 2, 3, 2), randT(r, 2)}},
		{name: "Conv dilation", op: "Conv", attrs: map[string]Attr{"dilations": ints(2, 2), "pads": ints(2, 2, 2, 2)}, inputs: []*tensor.Tensor{randT(r, 1, 2, 6, 6), randT(r, 2, 2, 3, 3)}},
		{name: "Conv group 2", op: "Conv", attrs: map[string]Attr{"group": IntAttr(2), "pads": ints(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 2, 4, 4, 4), randT(r, 6, 2, 3, 3), randT(r, 6)}},
		{name: "Conv depthwise", op: "Conv", attrs: map[string]Attr{"group": IntAttr(3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 5, 5), randT(r, 3, 1, 3, 3), randT(r, 3)}},
		{name: "Conv 1x1", op: "Conv", inputs: []*tensor.Tensor{randT(r, 3, 4, 3, 3), randT(r, 2, 4, 1, 1), randT(r, 2)}},
		{name: "Conv auto_pad SAME_UPPER", op: "Conv", attrs: map[string]Attr{"auto_pad": StringAttr("SAME_UPPER"), "strides": ints(2, 2)}, inputs: []*tensor.Tensor{randT(r, 1, 2, 5, 5), randT(r, 2, 2, 2, 2)}},
		{name: "Conv same 3x3 (input gradient as a convolution)", op: "Conv", attrs: map[string]Attr{"pads": ints(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 5, 5), randT(r, 3, 3, 3, 3), randT(r, 3)}},
		{name: "Conv asymmetric pads (input gradient as a convolution)", op: "Conv", attrs: map[string]Attr{"pads": ints(1, 0, 1, 2)}, inputs: []*tensor.Tensor{randT(r, 1, 2, 4, 5), randT(r, 2, 2, 3, 3)}},
		{name: "Conv batch 9 chunks", op: "Conv", attrs: map[string]Attr{"pads": ints(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 9, 1, 3, 3), randT(r, 2, 1, 3, 3), randT(r, 2)}},
		{name: "Relu", op: "Relu", inputs: []*tensor.Tensor{randT(r, 2, 3, 4)}},
		{name: "LeakyRelu", op: "LeakyRelu", attrs: map[string]Attr{"alpha": FloatAttr(0.2)}, inputs: []*tensor.Tensor{randT(r, 2, 5)}},
		{name: "Clip inputs", op: "Clip", opset: 13, inputs: []*tensor.Tensor{distinctT(r, 3, 7), constT(-0.3), constT(0.4)}},
		{name: "Clip attrs opset 6", op: "Clip", opset: 6, attrs: map[string]Attr{"min": FloatAttr(0), "max": FloatAttr(0.5)}, inputs: []*tensor.Tensor{distinctT(r, 3, 7)}},
		{name: "Sigmoid", op: "Sigmoid", inputs: []*tensor.Tensor{randT(r, 2, 5)}},
		{name: "Tanh", op: "Tanh", inputs: []*tensor.Tensor{randT(r, 2, 5)}},
		{name: "MaxPool", op: "MaxPool", attrs: map[string]Attr{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}, inputs: []*tensor.Tensor{distinctT(r, 2, 2, 4, 4)}},
		{name: "MaxPool pads ceil", op: "MaxPool", attrs: map[string]Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "ceil_mode": IntAttr(1)}, inputs: []*tensor.Tensor{distinctT(r, 1, 2, 6, 6)}},
		{name: "MaxPool dilation", op: "MaxPool", attrs: map[string]Attr{"kernel_shape": ints(2, 2), "dilations": ints(2, 2)}, inputs: []*tensor.Tensor{distinctT(r, 1, 1, 5, 5)}},
		{name: "AveragePool", op: "AveragePool", attrs: map[string]Attr{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}, inputs: []*tensor.Tensor{randT(r, 2, 2, 4, 4)}},
		{name: "AveragePool pads exclude", op: "AveragePool", attrs: map[string]Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 1, 2, 5, 5)}},
		{name: "AveragePool pads include", op: "AveragePool", attrs: map[string]Attr{"kernel_shape": ints(3, 3), "pads": ints(1, 1, 1, 1), "count_include_pad": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 1, 2, 4, 4)}},
		{name: "GlobalAveragePool", op: "GlobalAveragePool", inputs: []*tensor.Tensor{randT(r, 2, 3, 3, 4)}},
		{name: "BatchNormalization training", op: "BatchNormalization", inputs: []*tensor.Tensor{randT(r, 3, 2, 3, 3), randT(r, 2), randT(r, 2), randT(r, 2), posT(r, 2)}},
		{name: "BatchNormalization 2D", op: "BatchNormalization", inputs: []*tensor.Tensor{randT(r, 4, 3), randT(r, 3), randT(r, 3), randT(r, 3), posT(r, 3)}},
		{name: "Flatten", op: "Flatten", attrs: map[string]Attr{"axis": IntAttr(2)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 4)}},
		{name: "Reshape 0 -1", op: "Reshape", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), constT(0, -1, 2)}},
		{name: "Identity", op: "Identity", inputs: []*tensor.Tensor{randT(r, 2, 3)}},
		{name: "Add same", op: "Add", inputs: []*tensor.Tensor{randT(r, 2, 3), randT(r, 2, 3)}},
		{name: "Add broadcast bias", op: "Add", inputs: []*tensor.Tensor{randT(r, 2, 3, 2, 2), randT(r, 3, 1, 1)}},
		{name: "Sub same", op: "Sub", inputs: []*tensor.Tensor{randT(r, 2, 3), randT(r, 2, 3)}},
		{name: "Mul same", op: "Mul", inputs: []*tensor.Tensor{randT(r, 2, 3), randT(r, 2, 3)}},
		{name: "Sub broadcast both", op: "Sub", inputs: []*tensor.Tensor{randT(r, 2, 1, 3), randT(r, 4, 1)}},
		{name: "Mul broadcast", op: "Mul", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), randT(r, 4)}},
		{name: "Mul scalar", op: "Mul", inputs: []*tensor.Tensor{randT(r, 2, 3), tensor.FromData([]float32{1.5})}},
		{name: "Div broadcast", op: "Div", inputs: []*tensor.Tensor{randT(r, 2, 3), posT(r, 2, 1)}},
		{name: "Concat axis 1", op: "Concat", attrs: map[string]Attr{"axis": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 2, 2, 3), randT(r, 2, 1, 3), randT(r, 2, 3, 3)}},
		{name: "Concat axis -1", op: "Concat", attrs: map[string]Attr{"axis": IntAttr(-1)}, inputs: []*tensor.Tensor{randT(r, 2, 2), randT(r, 2, 3)}},
		{name: "Dropout training", op: "Dropout", opset: 7, attrs: map[string]Attr{"ratio": FloatAttr(0.3)}, inputs: []*tensor.Tensor{randT(r, 4, 5)}},
		{name: "Softmax opset 13 axis 1 of 3", op: "Softmax", opset: 13, attrs: map[string]Attr{"axis": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 4)}},
		{name: "Softmax opset 11 coerced", op: "Softmax", opset: 11, inputs: []*tensor.Tensor{randT(r, 2, 3, 2)}},
	}
}

// buildCase returns a graph whose single node applies the case's operator to
// parameters p0, p1, ... and writes "y". An unused input carries the batch.
func buildCase(tc gradCase) *Graph {
	opset := tc.opset
	if opset == 0 {
		opset = 13
	}
	g := New(tc.name, opset)
	g.Inputs = []Value{{Name: "unused", Shape: []int{DynamicDim}}}
	n := &Node{Name: "n", Op: tc.op, Attrs: tc.attrs, Outputs: []string{"y"}}
	for i, t := range tc.inputs {
		if t == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		name := fmt.Sprintf("p%d", i)
		g.Params[name] = t.Clone()
		n.Inputs = append(n.Inputs, name)
	}
	g.Nodes = []*Node{n}
	g.Outputs = []Value{{Name: "y"}}
	return g
}

// weightedLoss runs a fresh training-mode forward (same seed, so Dropout draws the
// same mask) and returns sum(y·w) in float64.
func weightedLoss(t *testing.T, g *Graph, w *tensor.Tensor) float64 {
	t.Helper()
	ex, err := Compile(g, WithTraining(true), WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Forward(context.Background(), map[string]*tensor.Tensor{"unused": tensor.New(1)})
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	for i, v := range out["y"].Data {
		s += float64(v) * float64(w.Data[i])
	}
	return s
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range gradCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := buildCase(tc)
			ex, err := Compile(g, WithTraining(true), WithSeed(3))
			if err != nil {
				t.Fatal(err)
			}
			out, err := ex.Forward(context.Background(), map[string]*tensor.Tensor{"unused": tensor.New(1)})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			w := randT(r, out["y"].Shape...)
			if err := ex.Backward(context.Background(), map[string]*tensor.Tensor{"y": w}); err != nil {
				t.Fatal(err)
			}
			grads := ex.Grads()
			checked := 0
			for name, p := range g.Params {
				gr, ok := grads[name]
				if !g.Trainable(name) {
					if ok {
						t.Errorf("frozen %s has a gradient", name)
					}
					continue
				}
				if !ok {
					t.Fatalf("no gradient for %s", name)
				}
				const eps = 1e-2
				for i := range p.Data {
					orig := p.Data[i]
					p.Data[i] = orig + eps
					up := weightedLoss(t, g, w)
					p.Data[i] = orig - eps
					down := weightedLoss(t, g, w)
					p.Data[i] = orig
					num := (up - down) / (2 * eps)
					got := float64(gr.Data[i])
					if math.Abs(got-num) > 2e-3*max(1, math.Abs(num)) {
						t.Errorf("d/d%s[%d]: got %.6f, finite difference %.6f", name, i, got, num)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no gradient checked")
			}
		})
	}
}
