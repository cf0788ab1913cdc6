package graph

import (
	"context"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// fuzzOps are the operators FuzzCompileNode draws from.
var fuzzOps = []string{"Gemm", "MatMul", "Conv", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool",
	"BatchNormalization", "Flatten", "Reshape", "Add", "Mul", "Concat", "Dropout", "Softmax", "Identity", "Sigmoid"}

// FuzzCompileNode builds a one-node graph from the fuzzer's bytes (operator, input
// shapes, integer attributes, as a hostile ONNX file could declare them) and checks
// that Compile, Run and a training step return errors instead of panicking.
func FuzzCompileNode(f *testing.F) {
	f.Add([]byte{2, 4, 1, 3, 5, 5, 4, 4, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 2, 2, 3, 4, 2, 4, 5, 1, 0, 1})
	f.Add([]byte{5, 1, 4, 1, 2, 6, 6, 2, 2, 2, 2, 9, 9, 1, 1})
	f.Add([]byte{10, 2, 3, 2, 3, 4, 1, 3, 0, 255, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		next := func() int {
			if len(b) == 0 {
				return 0
			}
			v := int(b[0])
			b = b[1:]
			return v
		}
		op := fuzzOps[next()%len(fuzzOps)]
		g := New("fuzz", int64(6+next()%12))
		nIn := 1 + next()%5
		n := &Node{Name: "n", Op: op, Outputs: []string{"y"}}
		for i := 0; i < nIn; i++ {
			rank := next() % 5
			shape := make([]int, rank)
			for d := range shape {
				shape[d] = next() % 7
			}
			if i == 0 {
				if rank == 0 {
					shape = []int{1}
				}
				shape[0] = DynamicDim
				for d := 1; d < len(shape); d++ {
					shape[d] = max(shape[d], 1)
				}
				g.Inputs = []Value{{Name: "x", Shape: shape}}
				n.Inputs = append(n.Inputs, "x")
				continue
			}
			name := string(rune('a' + i))
			t := tensor.New(shape...)
			for j := range t.Data {
				t.Data[j] = float32(next()%9) - 4
			}
			g.Params[name] = t
			n.Inputs = append(n.Inputs, name)
		}
		ints := func() Attr {
			k := next() % 5
			v := make([]int64, k)
			for i := range v {
				v[i] = int64(next()%12) - 2
			}
			return IntsAttr(v...)
		}
		for _, name := range []string{"kernel_shape", "strides", "pads", "dilations"} {
			if next()%2 == 1 {
				n.SetAttr(name, ints())
			}
		}
		for _, name := range []string{"group", "axis", "transA", "transB", "ceil_mode", "count_include_pad", "allowzero"} {
			if next()%2 == 1 {
				n.SetAttr(name, IntAttr(int64(next()%8)-3))
			}
		}
		g.Nodes = []*Node{n}
		g.Outputs = []Value{{Name: "y"}}
		for _, training := range []bool{false, true} {
			ex, err := Compile(g, WithTraining(training))
			if err != nil {
				return
			}
			for _, batch := range []int{1, 3} {
				shape := concreteShape(g.Inputs[0].Shape, batch)
				x := tensor.New(shape...)
				for j := range x.Data {
					x.Data[j] = float32(j%5) - 2
				}
				in := map[string]*tensor.Tensor{"x": x}
				if !training {
					_, _ = ex.Run(context.Background(), in)
					continue
				}
				out, err := ex.Forward(context.Background(), in)
				if err != nil {
					continue
				}
				_ = ex.Backward(context.Background(), map[string]*tensor.Tensor{"y": out["y"]})
			}
		}
	})
}
