package graph

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// runCase runs a gradCase graph in inference mode and returns its output.
func runCase(t *testing.T, tc gradCase) *tensor.Tensor {
	t.Helper()
	ex, err := Compile(buildCase(tc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"unused": tensor.New(1)})
	if err != nil {
		t.Fatal(err)
	}
	return out["y"]
}

// runBoth runs the reference executor and the one under test on the same inputs and
// returns their outputs.
func runBoth(t *testing.T, ref, ex *Executor, in map[string]*tensor.Tensor) (want, got map[string]*tensor.Tensor) {
	t.Helper()
	want, err := ref.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got, err = ex.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return want, got
}

func closeTo(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("value %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// naiveConv is the textbook definition of ONNX Conv (NCHW, explicit pads).
func naiveConv(x, w, b *tensor.Tensor, sh, sw, dh, dw, pt, pl, pb, pr, group int) *tensor.Tensor {
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	m, cg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	oh := (h+pt+pb-((kh-1)*dh+1))/sh + 1
	ow := (wd+pl+pr-((kw-1)*dw+1))/sw + 1
	y := tensor.New(n, m, oh, ow)
	mg := m / group
	for s := 0; s < n; s++ {
		for f := 0; f < m; f++ {
			g := f / mg
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					var acc float64
					if b != nil {
						acc = float64(b.Data[f])
					}
					for cc := 0; cc < cg; cc++ {
						ch := g*cg + cc
						for a := 0; a < kh; a++ {
							for e := 0; e < kw; e++ {
								ih, iw := i*sh-pt+a*dh, j*sw-pl+e*dw
								if ih < 0 || ih >= h || iw < 0 || iw >= wd {
									continue
								}
								acc += float64(x.Data[((s*c+ch)*h+ih)*wd+iw]) * float64(w.Data[((f*cg+cc)*kh+a)*kw+e])
							}
						}
					}
					y.Data[((s*m+f)*oh+i)*ow+j] = float32(acc)
				}
			}
		}
	}
	return y
}

func TestConvMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name                                  string
		x, w                                  []int
		bias                                  bool
		sh, sw, dh, dw, pt, pl, pb, pr, group int
	}{
		{name: "plain", x: []int{2, 3, 7, 7}, w: []int{4, 3, 3, 3}, bias: true, sh: 1, sw: 1, dh: 1, dw: 1, group: 1},
		{name: "stride pads", x: []int{3, 2, 8, 9}, w: []int{5, 2, 3, 3}, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 1},
		{name: "dilated asymmetric", x: []int{1, 2, 9, 8}, w: []int{3, 2, 3, 2}, bias: true, sh: 1, sw: 2, dh: 2, dw: 1, pt: 0, pl: 2, pb: 1, pr: 0, group: 1},
		{name: "grouped", x: []int{2, 6, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 2},
		{name: "depthwise", x: []int{10, 4, 5, 5}, w: []int{8, 1, 3, 3}, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 4},
		{name: "batch 1 large (parallel unrolling)", x: []int{1, 8, 30, 30}, w: []int{4, 8, 3, 3}, bias: true, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 1},
		{name: "row blocks", x: []int{3, 16, 20, 20}, w: []int{4, 16, 3, 3}, bias: true, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 1},
		{name: "row blocks stride 2", x: []int{2, 16, 40, 40}, w: []int{3, 16, 3, 3}, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 1},
		{name: "row blocks grouped batch 1", x: []int{1, 32, 20, 20}, w: []int{8, 16, 3, 3}, bias: true, sh: 1, sw: 1, dh: 2, dw: 2, pt: 2, pl: 2, pb: 2, pr: 2, group: 2},
		{name: "pure depthwise", x: []int{2, 3, 7, 6}, w: []int{3, 1, 3, 3}, bias: true, sh: 2, sw: 1, dh: 1, dw: 2, pt: 1, pl: 2, pb: 0, pr: 1, group: 3},
		{name: "pure depthwise stride 2 pad 1", x: []int{1, 4, 8, 8}, w: []int{4, 1, 3, 3}, sh: 2, sw: 2, dh: 1, dw: 1, pt: 1, pl: 1, pb: 1, pr: 1, group: 4},
		{name: "tap entirely in the padding", x: []int{1, 3, 5, 3}, w: []int{2, 3, 1, 4}, sh: 1, sw: 1, dh: 1, dw: 2, pt: 2, pl: 2, pb: 1, pr: 2, group: 1},
		{name: "pointwise", x: []int{2, 5, 4, 4}, w: []int{3, 5, 1, 1}, bias: true, sh: 1, sw: 1, dh: 1, dw: 1, group: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, w := randT(r, tt.x...), randT(r, tt.w...)
			var b *tensor.Tensor
			inputs := []*tensor.Tensor{x, w}
			if tt.bias {
				b = randT(r, tt.w[0])
				inputs = append(inputs, b)
			}
			tc := gradCase{name: tt.name, op: "Conv", inputs: inputs, attrs: map[string]Attr{
				"strides":   IntsAttr(int64(tt.sh), int64(tt.sw)),
				"dilations": IntsAttr(int64(tt.dh), int64(tt.dw)),
				"pads":      IntsAttr(int64(tt.pt), int64(tt.pl), int64(tt.pb), int64(tt.pr)),
				"group":     IntAttr(int64(tt.group)),
			}}
			got := runCase(t, tc)
			want := naiveConv(x, w, b, tt.sh, tt.sw, tt.dh, tt.dw, tt.pt, tt.pl, tt.pb, tt.pr, tt.group)
			if !tensor.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape: got %v, want %v", got.Shape, want.Shape)
			}
			closeTo(t, got.Data, want.Data, 1e-4)
		})
	}
}

func TestOperatorValues(t *testing.T) {
	x := tensor.FromData([]float32{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
		13, 14, 15, 16}, 1, 1, 4, 4)
	tests := []struct {
		tc   gradCase
		want []float32
	}{
		{gradCase{name: "MaxPool 2x2", op: "MaxPool", attrs: map[string]Attr{"kernel_shape": IntsAttr(2, 2), "strides": IntsAttr(2, 2)}, inputs: []*tensor.Tensor{x}},
			[]float32{6, 8, 14, 16}},
		{gradCase{name: "AveragePool 3x3 pad exclude", op: "AveragePool", attrs: map[string]Attr{"kernel_shape": IntsAttr(3, 3), "strides": IntsAttr(3, 3), "pads": IntsAttr(1, 1, 1, 1)}, inputs: []*tensor.Tensor{x}},
			[]float32{(1 + 2 + 5 + 6) / 4.0, (3 + 4 + 7 + 8) / 4.0, (9 + 10 + 13 + 14) / 4.0, (11 + 12 + 15 + 16) / 4.0}},
		{gradCase{name: "AveragePool 3x3 pad include", op: "AveragePool", attrs: map[string]Attr{"kernel_shape": IntsAttr(3, 3), "strides": IntsAttr(3, 3), "pads": IntsAttr(1, 1, 1, 1), "count_include_pad": IntAttr(1)}, inputs: []*tensor.Tensor{x}},
			[]float32{(1 + 2 + 5 + 6) / 9.0, (3 + 4 + 7 + 8) / 9.0, (9 + 10 + 13 + 14) / 9.0, (11 + 12 + 15 + 16) / 9.0}},
		{gradCase{name: "GlobalAveragePool", op: "GlobalAveragePool", inputs: []*tensor.Tensor{x}}, []float32{8.5}},
		{gradCase{name: "BatchNormalization inference", op: "BatchNormalization", attrs: map[string]Attr{"epsilon": FloatAttr(0)},
			inputs: []*tensor.Tensor{tensor.FromData([]float32{1, 2, 3, 4}, 1, 2, 2, 1), constT(2, 1), constT(1, 0), constT(1, 3), constT(4, 1)}},
			[]float32{1, 2, 0, 1}},
		{gradCase{name: "Add bias broadcast", op: "Add", inputs: []*tensor.Tensor{tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3), constT(10, 20, 30)}},
			[]float32{11, 22, 33, 14, 25, 36}},
		{gradCase{name: "Mul column broadcast", op: "Mul", inputs: []*tensor.Tensor{tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3), tensor.FromData([]float32{2, 3}, 2, 1)}},
			[]float32{2, 4, 6, 12, 15, 18}},
		{gradCase{name: "Gemm transB", op: "Gemm", attrs: map[string]Attr{"transB": IntAttr(1)},
			inputs: []*tensor.Tensor{tensor.FromData([]float32{1, 2, 3, 4}, 2, 2), tensor.FromData([]float32{1, 0, 1, 1, 0, 2}, 3, 2), constT(1, 2, 3)}},
			[]float32{2, 5, 7, 4, 9, 11}},
		{gradCase{name: "Softmax", op: "Softmax", inputs: []*tensor.Tensor{tensor.FromData([]float32{0, float32(math.Log(3))}, 1, 2)}},
			[]float32{0.25, 0.75}},
		{gradCase{name: "Clip relu6", op: "Clip", inputs: []*tensor.Tensor{constT(-1, 3, 7), constT(0), constT(6)}},
			[]float32{0, 3, 6}},
		{gradCase{name: "Concat", op: "Concat", attrs: map[string]Attr{"axis": IntAttr(1)}, inputs: []*tensor.Tensor{tensor.FromData([]float32{1, 2}, 2, 1), tensor.FromData([]float32{3, 4, 5, 6}, 2, 2)}},
			[]float32{1, 3, 4, 2, 5, 6}},
		{gradCase{name: "Dropout is identity in inference", op: "Dropout", inputs: []*tensor.Tensor{constT(1, 2, 3)}}, []float32{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.tc.name, func(t *testing.T) {
			closeTo(t, runCase(t, tt.tc).Data, tt.want, 1e-5)
		})
	}
}

func TestShapeInference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		tc   gradCase
		want []int
	}{
		{gradCase{name: "Conv stride 2 pad 1", op: "Conv", attrs: map[string]Attr{"strides": IntsAttr(2, 2), "pads": IntsAttr(1, 1, 1, 1)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 28, 28), randT(r, 8, 3, 3, 3)}}, []int{2, 8, 14, 14}},
		{gradCase{name: "Conv dilation 2", op: "Conv", attrs: map[string]Attr{"dilations": IntsAttr(2, 2)}, inputs: []*tensor.Tensor{randT(r, 1, 1, 9, 9), randT(r, 1, 1, 3, 3)}}, []int{1, 1, 5, 5}},
		{gradCase{name: "Conv SAME_UPPER stride 2", op: "Conv", attrs: map[string]Attr{"auto_pad": StringAttr("SAME_UPPER"), "strides": IntsAttr(2, 2)}, inputs: []*tensor.Tensor{randT(r, 1, 1, 7, 7), randT(r, 1, 1, 3, 3)}}, []int{1, 1, 4, 4}},
		{gradCase{name: "MaxPool ceil_mode", op: "MaxPool", attrs: map[string]Attr{"kernel_shape": IntsAttr(2, 2), "strides": IntsAttr(2, 2), "ceil_mode": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 1, 1, 5, 5)}}, []int{1, 1, 3, 3}},
		{gradCase{name: "MaxPool floor", op: "MaxPool", attrs: map[string]Attr{"kernel_shape": IntsAttr(2, 2), "strides": IntsAttr(2, 2)}, inputs: []*tensor.Tensor{randT(r, 1, 1, 5, 5)}}, []int{1, 1, 2, 2}},
		{gradCase{name: "GlobalAveragePool", op: "GlobalAveragePool", inputs: []*tensor.Tensor{randT(r, 2, 4, 3, 3)}}, []int{2, 4, 1, 1}},
		{gradCase{name: "Flatten axis 1", op: "Flatten", inputs: []*tensor.Tensor{randT(r, 2, 3, 4, 5)}}, []int{2, 60}},
		{gradCase{name: "Flatten axis 0", op: "Flatten", attrs: map[string]Attr{"axis": IntAttr(0)}, inputs: []*tensor.Tensor{randT(r, 2, 3)}}, []int{1, 6}},
		{gradCase{name: "Reshape 0 -1", op: "Reshape", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), constT(0, -1)}}, []int{2, 12}},
		{gradCase{name: "Reshape explicit", op: "Reshape", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), constT(4, 6)}}, []int{4, 6}},
		{gradCase{name: "MatMul 3D x 2D", op: "MatMul", inputs: []*tensor.Tensor{randT(r, 2, 3, 4), randT(r, 4, 5)}}, []int{2, 3, 5}},
		{gradCase{name: "Add broadcast", op: "Add", inputs: []*tensor.Tensor{randT(r, 2, 1, 4), randT(r, 3, 1)}}, []int{2, 3, 4}},
		{gradCase{name: "Concat", op: "Concat", attrs: map[string]Attr{"axis": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 2, 3, 2), randT(r, 2, 5, 2)}}, []int{2, 8, 2}},
		{gradCase{name: "Gemm transA", op: "Gemm", attrs: map[string]Attr{"transA": IntAttr(1)}, inputs: []*tensor.Tensor{randT(r, 4, 3), randT(r, 4, 7)}}, []int{3, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.tc.name, func(t *testing.T) {
			shapes, err := InferShapes(buildCase(tt.tc), 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := shapes["y"]; !tensor.SameShape(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// mlp is a two-layer perceptron over input "x" [N, 4] for executor tests.
func mlp() *Graph {
	r := rand.New(rand.NewPCG(9, 9))
	g := New("mlp", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 4}}}
	g.Params["w1"], g.Params["b1"] = randT(r, 8, 4), randT(r, 8)
	g.Params["w2"], g.Params["b2"] = randT(r, 3, 8), randT(r, 3)
	g.Nodes = []*Node{
		{Name: "fc1", Op: "Gemm", Inputs: []string{"x", "w1", "b1"}, Outputs: []string{"h"}, Attrs: map[string]Attr{"transB": IntAttr(1)}},
		{Name: "relu", Op: "Relu", Inputs: []string{"h"}, Outputs: []string{"a"}},
		{Name: "fc2", Op: "Gemm", Inputs: []string{"a", "w2", "b2"}, Outputs: []string{"y"}, Attrs: map[string]Attr{"transB": IntAttr(1)}},
	}
	g.Outputs = []Value{{Name: "y", Shape: []int{DynamicDim, 3}}}
	return g
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(g *Graph)
		wants string
	}{
		{"unsupported operator", func(g *Graph) { g.Nodes[1].Op = "LSTM" }, `graph: node "relu" (LSTM): unsupported operator`},
		{"inner dimension mismatch", func(g *Graph) { g.Params["w2"] = tensor.New(3, 7) }, `node "fc2" (Gemm)`},
		{"bad conv rank", func(g *Graph) { g.Nodes[0].Op = "Conv" }, `node "fc1" (Conv)`},
		{"undefined input", func(g *Graph) { g.Nodes[2].Inputs[0] = "nope" }, `reads "nope"`},
		{"reshape without constant shape", func(g *Graph) {
			g.Nodes[1] = &Node{Name: "rs", Op: "Reshape", Inputs: []string{"h", "x"}, Outputs: []string{"a"}}
		}, `node "rs" (Reshape): shape input "x" must be an initializer or Constant`},
		{"reshape impossible", func(g *Graph) {
			g.Params["shape"] = constT(5, -1)
			g.Nodes[1] = &Node{Name: "rs", Op: "Reshape", Inputs: []string{"h", "shape"}, Outputs: []string{"a"}}
		}, `node "rs" (Reshape)`},
		{"missing required input", func(g *Graph) { g.Nodes[1].Inputs = nil }, `node "relu" (Relu): want 1 inputs, got 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mlp()
			tt.edit(g)
			_, err := Compile(g)
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wants)
			}
		})
	}
}

func TestRunInputErrors(t *testing.T) {
	ex, err := Compile(mlp())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		inputs map[string]*tensor.Tensor
		wants  string
	}{
		{"missing", map[string]*tensor.Tensor{}, `input "x" missing`},
		{"wrong rank", map[string]*tensor.Tensor{"x": tensor.New(2, 4, 1)}, "want rank 2"},
		{"wrong feature dim", map[string]*tensor.Tensor{"x": tensor.New(2, 5)}, "got shape [2 5]"},
		{"empty batch", map[string]*tensor.Tensor{"x": tensor.New(0, 4)}, "empty dimension"},
		{"data shorter than shape", map[string]*tensor.Tensor{"x": {Shape: []int{2, 4}, Data: make([]float32, 3)}}, "3 values for shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ex.Run(context.Background(), tt.inputs)
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wants)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ex.Run(ctx, map[string]*tensor.Tensor{"x": tensor.New(1, 4)}); err == nil {
		t.Error("Run with a cancelled context: got nil error")
	}
	if err := ex.Backward(context.Background(), nil); err != ErrNotTraining {
		t.Errorf("Backward on an inference executor: got %v, want ErrNotTraining", err)
	}
}

func TestRunBatchSizesAndParamsInPlace(t *testing.T) {
	g := mlp()
	ex, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	x := randT(r, 5, 4)
	full, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	// Each row alone must give the same logits as in the batch.
	for i := 0; i < 5; i++ {
		one, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.FromData(x.Data[i*4:(i+1)*4], 1, 4)})
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, one["y"].Data, full["y"].Data[i*3:(i+1)*3], 1e-5)
	}
	// Writes into g.Params are seen by the next run.
	clear(g.Params["w2"].Data)
	clear(g.Params["b2"].Data)
	zero, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, zero["y"].Data, make([]float32, 15), 0)
	g.Params["w2"] = tensor.New(3, 9)
	if _, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": x}); err == nil || !strings.Contains(err.Error(), `parameter "w2" changed shape`) {
		t.Fatalf("got %v, want a changed-shape error", err)
	}
}

func TestTimings(t *testing.T) {
	ex, err := Compile(mlp(), WithTiming(true))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(2, 4)}); err != nil {
			t.Fatal(err)
		}
	}
	tm := ex.Timings()
	if len(tm) != 3 || tm[0].Node != "fc1" || tm[0].Op != "Gemm" || tm[2].Node != "fc2" {
		t.Fatalf("got timings %+v, want fc1, relu, fc2", tm)
	}
	for _, nt := range tm {
		// relu is fused into fc1: counted, with its time inside fc1's.
		fused := nt.Node == "relu"
		if nt.Calls != 3 || (nt.Total > 0) == fused {
			t.Errorf("node %s: %d calls, %v total; want 3 calls and %s time", nt.Node, nt.Calls, nt.Total, map[bool]string{false: "positive", true: "zero (fused)"}[fused])
		}
	}
	ex.ResetTimings()
	if tm := ex.Timings(); tm[0].Calls != 0 {
		t.Errorf("after reset: %d calls", tm[0].Calls)
	}
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	logits := tensor.FromData([]float32{0, 0, float32(math.Log(3)), 0}, 2, 2)
	loss, grad := SoftmaxCrossEntropy(logits, []int{0, 0})
	want := (math.Log(2) + math.Log(4.0/3)) / 2
	if math.Abs(float64(loss)-want) > 1e-6 {
		t.Errorf("loss: got %v, want %v", loss, want)
	}
	closeTo(t, grad.Data, []float32{(0.5 - 1) / 2, 0.5 / 2, (0.75 - 1) / 2, 0.25 / 2}, 1e-6)
}

// TestFusedEpilogues checks Conv→BatchNormalization→Relu, Conv→Relu and Gemm→Relu
// fused in an inference executor against the unfused training executor, and that a
// value read elsewhere is not fused away.
func TestFusedEpilogues(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	g := New("fuse", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 2, 5, 5}}}
	g.Params["w1"], g.Params["w2"] = randT(r, 3, 2, 3, 3), randT(r, 3, 3, 3, 3)
	g.Params["s"], g.Params["b"], g.Params["m"], g.Params["v"] = randT(r, 3), randT(r, 3), randT(r, 3), posT(r, 3)
	g.Params["fw"], g.Params["fb"] = randT(r, 4, 3*5*5), randT(r, 4)
	g.Nodes = []*Node{
		{Name: "conv1", Op: "Conv", Inputs: []string{"x", "w1"}, Outputs: []string{"c1"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
		{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c1", "s", "b", "m", "v"}, Outputs: []string{"n1"}},
		{Name: "relu1", Op: "Relu", Inputs: []string{"n1"}, Outputs: []string{"a1"}},
		{Name: "conv2", Op: "Conv", Inputs: []string{"a1", "w2"}, Outputs: []string{"c2"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
		{Name: "relu2", Op: "Relu", Inputs: []string{"c2"}, Outputs: []string{"a2"}},
		{Name: "add", Op: "Add", Inputs: []string{"a2", "c2"}, Outputs: []string{"s2"}}, // c2 read twice: relu2 stays
		{Name: "flat", Op: "Flatten", Inputs: []string{"s2"}, Outputs: []string{"f"}},
		{Name: "fc", Op: "Gemm", Inputs: []string{"f", "fw", "fb"}, Outputs: []string{"h"}, Attrs: map[string]Attr{"transB": IntAttr(1)}},
		{Name: "relu3", Op: "Relu", Inputs: []string{"h"}, Outputs: []string{"y"}},
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
	if strings.Join(absorbed, ",") != "bn,relu1,relu3" {
		t.Errorf("absorbed nodes %v, want [bn relu1 relu3]", absorbed)
	}
	plain, err := Compile(g, WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"x": randT(r, 3, 2, 5, 5)}
	want, got := runBoth(t, plain, fused, in)
	closeTo(t, got["y"].Data, want["y"].Data, 1e-5)
	// In-place parameter updates reach the fused BatchNormalization.
	g.Params["m"].Data[0] += 1
	want, _ = plain.Run(context.Background(), in)
	got, _ = fused.Run(context.Background(), in)
	closeTo(t, got["y"].Data, want["y"].Data, 1e-5)
}

func TestRunInvalidatesPendingBackward(t *testing.T) {
	ex, err := Compile(mlp(), WithTraining(true))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"x": tensor.New(2, 4)}
	out, err := ex.Forward(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(2, 4)}); err != nil {
		t.Fatal(err)
	}
	if err := ex.Backward(context.Background(), out); err != ErrNoForward {
		t.Errorf("Backward after a same-shape Run: got %v, want ErrNoForward", err)
	}
	if _, err := ex.Forward(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	// A Run at another batch size uses another plan and leaves the Forward intact.
	if _, err := ex.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(3, 4)}); err != nil {
		t.Fatal(err)
	}
	if err := ex.Backward(context.Background(), out); err != nil {
		t.Errorf("Backward after another-shape Run: %v", err)
	}
}
