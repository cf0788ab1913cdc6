package models

import (
	"math"
	"math/rand/v2"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// builder appends nodes and He-initialized parameters to a graph.
type builder struct {
	g   *graph.Graph
	rng *rand.Rand
}

func newBuilder(name string, seed uint64) *builder {
	g := graph.New(name, Opset)
	g.Inputs = []graph.Value{{Name: InputName, Shape: []int{graph.DynamicDim, 1, 28, 28}}}
	return &builder{g: g, rng: rand.New(rand.NewPCG(seed, seed^0xda3e39cb94b95bdb))}
}

// he returns a tensor drawn from N(0, 2/fanIn).
func (b *builder) he(fanIn int, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	std := math.Sqrt(2 / float64(fanIn))
	for i := range t.Data {
		t.Data[i] = float32(b.rng.NormFloat64() * std)
	}
	return t
}

func (b *builder) node(name, op string, in []string, attrs map[string]graph.Attr) string {
	out := name + ".out"
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: name, Op: op, Inputs: in, Outputs: []string{out}, Attrs: attrs})
	return out
}

// gemm is a fully connected layer with weight (out, in) and transB=1, as PyTorch
// exports nn.Linear.
func (b *builder) gemm(name, x string, in, out int) string {
	b.g.Params[name+".weight"] = b.he(in, out, in)
	b.g.Params[name+".bias"] = tensor.New(out)
	return b.node(name, "Gemm", []string{x, name + ".weight", name + ".bias"}, map[string]graph.Attr{
		"alpha": graph.FloatAttr(1), "beta": graph.FloatAttr(1), "transB": graph.IntAttr(1),
	})
}

// conv is a square convolution with weight (out, in, k, k); bias is optional.
func (b *builder) conv(name, x string, in, out, k, stride, pad int, bias bool) string {
	b.g.Params[name+".weight"] = b.he(in*k*k, out, in, k, k)
	inputs := []string{x, name + ".weight"}
	if bias {
		b.g.Params[name+".bias"] = tensor.New(out)
		inputs = append(inputs, name+".bias")
	}
	p := int64(pad)
	return b.node(name, "Conv", inputs, map[string]graph.Attr{
		"kernel_shape": graph.IntsAttr(int64(k), int64(k)),
		"strides":      graph.IntsAttr(int64(stride), int64(stride)),
		"pads":         graph.IntsAttr(p, p, p, p),
		"dilations":    graph.IntsAttr(1, 1),
		"group":        graph.IntAttr(1),
	})
}

// bn is BatchNormalization with PyTorch's parameter names and defaults.
func (b *builder) bn(name, x string, c int) string {
	ones := tensor.New(c)
	for i := range ones.Data {
		ones.Data[i] = 1
	}
	b.g.Params[name+".weight"] = ones
	b.g.Params[name+".bias"] = tensor.New(c)
	b.g.Params[name+".running_mean"] = tensor.New(c)
	b.g.Params[name+".running_var"] = ones.Clone()
	return b.node(name, "BatchNormalization",
		[]string{x, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"},
		map[string]graph.Attr{"epsilon": graph.FloatAttr(1e-5), "momentum": graph.FloatAttr(0.9)})
}

func (b *builder) relu(name, x string) string { return b.node(name, "Relu", []string{x}, nil) }

func (b *builder) maxPool(name, x string, k int) string {
	return b.node(name, "MaxPool", []string{x}, map[string]graph.Attr{
		"kernel_shape": graph.IntsAttr(int64(k), int64(k)),
		"strides":      graph.IntsAttr(int64(k), int64(k)),
	})
}

func (b *builder) flatten(name, x string) string {
	return b.node(name, "Flatten", []string{x}, map[string]graph.Attr{"axis": graph.IntAttr(1)})
}

// finish renames the last value to OutputName and declares it.
func (b *builder) finish(last string) *graph.Graph {
	n := b.g.Nodes[len(b.g.Nodes)-1]
	for i, o := range n.Outputs {
		if o == last {
			n.Outputs[i] = OutputName
		}
	}
	b.g.Outputs = []graph.Value{{Name: OutputName, Shape: []int{graph.DynamicDim, 10}}}
	return b.g
}
